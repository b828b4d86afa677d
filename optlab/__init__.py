"""optlab：从零实现的 torch.optim，可直接 ``import optlab as optim`` 使用。"""

from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .sgd import SGD

__version__ = "0.1.0"

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
