"""Small tabular data sets that ship with scikit-learn (no download)."""

from __future__ import annotations


def load_pathology():
    """Patient measurements -> presence of pathology (malignant tumour).

    scikit-learn's bundled Wisconsin diagnostic breast-cancer data: 569
    patients, 30 features computed from a digitised image of a fine-needle
    aspirate. The target is 1 for malignant, 0 for benign (note: scikit-learn
    codes it the other way round; here 1 means "pathology present").

    Returns:
        ``(X, y)``: a pandas DataFrame of features and a Series ``pathology``.
    """
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    X = data.data
    y = pd.Series(1 - data.target.to_numpy(), name="pathology", index=X.index)
    return X, y
