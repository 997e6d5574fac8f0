"""a3c: Asynchronous Advantage Actor-Critic (Mnih et al., 2016) on PyTorch 2 and Gymnasium."""

from a3c.agent import A3C
from a3c.config import Config, resolve_config
from a3c.evaluation import evaluate_policy

__version__ = "0.1.0"

__all__ = ["A3C", "Config", "__version__", "evaluate_policy", "resolve_config"]
