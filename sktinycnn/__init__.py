"""sktinycnn: a tiny convolutional network as scikit-learn estimators.

The network of the "Only Numpy" CNN tutorial (image -> 2-D convolution ->
tanh -> optional max or average pooling -> flatten -> dense -> logistic
sigmoid), trained by gradient descent, as :class:`TinyConvRegressor`, and the
same network with a sigmoid or softmax log-loss head as
:class:`TinyConvClassifier`.
"""

__version__ = "0.2.0.dev0"

from ._classifier import TinyConvClassifier
from ._regressor import TinyConvRegressor

__all__ = ["TinyConvClassifier", "TinyConvRegressor", "__version__"]
