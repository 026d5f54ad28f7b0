"""sktinycnn: a tiny convolutional network as a scikit-learn regressor.

The network of the "Only Numpy" CNN tutorial (image -> 2-D convolution ->
tanh -> flatten -> dense -> logistic sigmoid), trained by gradient descent,
as :class:`TinyConvRegressor`.
"""

__version__ = "0.2.0.dev0"

from ._regressor import TinyConvRegressor

__all__ = ["TinyConvRegressor", "__version__"]
