"""A neural-network library in NumPy alone: layers, a fused softmax cross-entropy loss, optimizers,
learning-rate schedules, weight averaging, a training loop and a safe file format."""

from scratchml.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from scratchml.nn.adam import Adam, AdamW
from scratchml.nn.dropout import Dropout
from scratchml.nn.ema import EMA
from scratchml.nn.linear import Linear
from scratchml.nn.loss import SoftmaxCrossEntropy
from scratchml.nn.module import Module
from scratchml.nn.parameter import Parameter
from scratchml.nn.schedules import Constant, CosineLR, StepLR, Warmup
from scratchml.nn.sequential import Sequential
from scratchml.nn.serialize import load, save
from scratchml.nn.sgd import SGD
from scratchml.nn.trainer import evaluate, fit, split_validation

__all__ = [
    "Module", "Parameter", "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Dropout",
    "SoftmaxCrossEntropy", "Sequential", "SGD", "Adam", "AdamW", "Constant", "StepLR", "CosineLR",
    "Warmup", "EMA", "fit", "evaluate", "split_validation", "save", "load",
]
