"""The model-from-code file of the registered pyfunc (see `leadml.tracking.pyfunc`).

MLflow copies this file into the logged model and runs it when the model loads: it names
the model object, nothing is pickled. leadml itself never imports it.
"""

import mlflow

from leadml.tracking.pyfunc import LeadmlModel

mlflow.models.set_model(LeadmlModel())
