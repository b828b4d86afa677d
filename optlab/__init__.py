"""optlab：从零实现的 torch.optim，可直接 ``import optlab as optim`` 使用。"""

from . import lr_scheduler, swa_utils
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .sgd import SGD

__version__ = "0.1.0"

__all__ = [
    "ASGD",
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "Optimizer",
    "RAdam",
    "lr_scheduler",
    "swa_utils",
]
