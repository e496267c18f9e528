"""Keras registration of tfzoo's layers and models, with a loading hint in the saved file.

Keras finds a custom class at load time only if the module that registers it
has been imported; it never imports a third-party package itself (only
``keras``, ``keras_hub``, ``keras_cv`` and ``keras_nlp``), and it has no
plugin or entry-point mechanism. So a ``.keras`` file of a tfzoo model loaded
without ``import tfzoo`` cannot work, and Keras's ``TypeError`` ("Could not
locate class ...") prints the object's saved config. :func:`serializable`
puts a line saying ``import tfzoo`` into that config (in the build config,
which Keras reads only for its ``input_shape`` / ``shapes_dict`` keys), so
the error tells the user what to do.
"""

from __future__ import annotations

import keras

LOAD_HINT = "import tfzoo before loading: it registers this class with Keras"


def serializable(cls):
    """Register ``cls`` as ``keras.saving.register_keras_serializable(package="tfzoo")``
    does, and add :data:`LOAD_HINT` to the build config it saves."""
    cls = keras.saving.register_keras_serializable(package="tfzoo")(cls)
    base = cls.get_build_config

    def get_build_config(self):
        config = base(self)
        if config is None:  # not built: Keras saves no build config
            return None
        return {**config, "tfzoo": LOAD_HINT}

    get_build_config.__doc__ = base.__doc__
    cls.get_build_config = get_build_config
    return cls
