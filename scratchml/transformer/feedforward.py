"""The position-wise feed-forward network (Vaswani et al. 2017, section 3.3):

    FFN(x) = act(x W1 + b1) W2 + b2

applied to every position separately: attention mixes information across positions, the FFN
transforms each position's vector. ReLU in the original Transformer; GELU (Hendrycks & Gimpel 2016)
in BERT and GPT-2. GPT-2 computes GELU with Hendrycks & Gimpel's tanh approximation,
0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), and a model trained with it keeps it ("gelu_tanh").
"""

import torch.nn as nn
import torch.nn.functional as F


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": gelu_tanh}


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)
        self.act = ACTIVATIONS[activation]

    def forward(self, x):  # (B, T, C) -> (B, T, C)
        return self.down(self.act(self.up(x)))
