"""The classifier's outputs, read from the network's logits.

``predict``, ``decision_function``, ``predict_proba`` and
``predict_log_proba`` of :class:`~sktinycnn.TinyConvClassifier`: the logits
of its last layer (``_forward``) through the head it was fitted with, one
logistic output (binary), one per label (multilabel) or a softmax.
"""

import numpy as np
from scipy.special import expit

from ._heads import SigmoidLogLoss, SoftmaxLogLoss, binary_log_proba
from ._labels import predicted_codes

__all__ = ["ClassOutputsMixin"]


class ClassOutputsMixin:
    """Class predictions and probabilities from the fitted network's logits.

    Reads ``_forward(X)`` (the logits), ``classes_``, ``n_outputs_`` and
    ``_multilabel`` of the estimator it is mixed into.
    """

    def predict(self, X):
        """Predict the class (or the labels) of images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Images, in the same form as during fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            The most probable class of each image, from ``classes_`` (the
            argmax of ``predict_proba``); for multilabel models a 0/1 int
            indicator of the labels of probability above 0.5.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvClassifier
        >>> X = np.random.RandomState(0).rand(30, 4, 4)
        >>> y = (X.mean(axis=(1, 2)) > 0.5) * 1
        >>> model = TinyConvClassifier(max_iter=300, random_state=0).fit(X, y)
        >>> model.predict(X[:3])
        array([1, 1, 0])
        """
        proba = self.predict_proba(X)
        if self._multilabel:
            return predicted_codes(proba, True)
        return self.classes_[np.argmax(proba, axis=1)]

    def decision_function(self, X):
        """Return the logits of the output layer for images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Images, in the same form as during fit.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Binary: the logit of ``classes_[1]`` (positive means that class);
            multiclass: one logit per class (the softmax's inputs);
            multilabel: one logit per label.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvClassifier
        >>> X = np.random.RandomState(0).rand(30, 4, 4)
        >>> y = (X.mean(axis=(1, 2)) > 0.5) * 1
        >>> model = TinyConvClassifier(max_iter=300, random_state=0).fit(X, y)
        >>> model.decision_function(X[:3]).shape
        (3,)
        """
        logits = self._forward(X)
        return logits[:, 0].copy() if self.n_outputs_ == 1 and not (
            self._multilabel
        ) else logits

    def predict_proba(self, X):
        """Predict the probability of each class (or label) for images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Images, in the same form as during fit.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities in the order of ``classes_``, each row summing
            to 1; for multilabel models the probability of each label.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvClassifier
        >>> X = np.random.RandomState(0).rand(30, 4, 4)
        >>> y = (X.mean(axis=(1, 2)) > 0.5) * 1
        >>> model = TinyConvClassifier(max_iter=300, random_state=0).fit(X, y)
        >>> model.predict_proba(X[:3]).shape
        (3, 2)
        """
        logits = self._forward(X)
        if self._multilabel:
            return expit(logits, out=logits)
        if logits.shape[1] == 1:
            p = expit(logits[:, 0])
            return np.stack([1 - p, p], axis=1)
        return SoftmaxLogLoss().activate(logits, out=logits)

    def predict_log_proba(self, X):
        """Predict the log-probabilities, computed stably from the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Images, in the same form as during fit.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log`` of :meth:`predict_proba` without its rounding to 0: a
            confident prediction gets a finite, very negative value for the
            other classes.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvClassifier
        >>> X = np.random.RandomState(0).rand(30, 4, 4)
        >>> y = (X.mean(axis=(1, 2)) > 0.5) * 1
        >>> model = TinyConvClassifier(max_iter=300, random_state=0).fit(X, y)
        >>> model.predict_log_proba(X[:3]).shape
        (3, 2)
        """
        logits = self._forward(X)
        if self._multilabel:
            return SigmoidLogLoss().log_proba(logits)
        if logits.shape[1] == 1:
            return binary_log_proba(logits)
        return SoftmaxLogLoss().log_proba(logits)
