"""Neural networks on secret shares: layers with forward and backward passes, losses, SGD.

Every tensor here is a SharedTensor; weights are shared like data. Layers keep what their
backward pass needs from the forward pass. The API follows torch.nn closely so that a
plaintext model converts with :func:`from_torch` and trains with the same hyperparameters.

>>> import numpy as np, torch
>>> from secured.mpc import Session, nn
>>> with Session(n_parties=2) as s:
...     model = nn.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 1)), s)
...     y = model(s.share(np.ones((2, 3))))
...     y.shape
(2, 1)
"""

from __future__ import annotations

import abc
from typing import Any, Iterator

import numpy as np

from ..exceptions import ConfigurationError, SecuredError
from .session import BaseSession
from .tensor import SharedTensor

__all__ = [
    "Parameter", "Module", "Sequential", "Linear", "Conv2d", "ReLU", "Sigmoid", "Tanh",
    "Softmax", "Flatten", "AvgPool2d", "MaxPool2d", "BatchNorm", "Dropout", "MSELoss",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "SGD", "from_torch", "to_torch", "SUPPORTED_LAYERS",
]


class Parameter:
    """A shared weight, its gradient and its momentum buffer."""

    def __init__(self, value: SharedTensor, name: str) -> None:
        self.value = value
        self.grad: SharedTensor | None = None
        self.velocity: SharedTensor | None = None
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape


class Module:
    """Base of the secret-shared layers: ``forward`` on shares, ``backward`` on shared gradients,
    ``parameters``."""
    training = True

    def forward(self, x: SharedTensor) -> SharedTensor:
        raise SecuredError(f"{type(self).__name__} has no forward pass.")

    def backward(self, grad: SharedTensor) -> SharedTensor:
        raise SecuredError(f"{type(self).__name__} cannot be trained under SMPC (inference only).")

    def __call__(self, x: SharedTensor) -> SharedTensor:
        return self.forward(x)

    def parameters(self) -> Iterator[Parameter]:
        for value in vars(self).values():
            if isinstance(value, Parameter):
                yield value
            elif isinstance(value, Module):
                yield from value.parameters()
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, Module):
                        yield from item.parameters()

    def train(self, mode: bool = True) -> "Module":
        self.training = mode
        for value in vars(self).values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Module):
                    item.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None


class Sequential(Module):
    """Layers applied in order (forward) and in reverse (backward)."""
    def __init__(self, *layers: Module) -> None:
        self.layers = list(layers)

    def forward(self, x: SharedTensor) -> SharedTensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad: SharedTensor, input_grad: bool = True) -> SharedTensor | None:
        """Accumulate every parameter's gradient; the gradient with respect to the input too,
        unless ``input_grad=False`` (training: the data needs none, like torch for an input
        without requires_grad): then the first layer with parameters skips its input product
        and the parameter-free layers before it are not run backward at all; None is returned."""
        first = next((i for i, layer in enumerate(self.layers) if any(True for _ in layer.parameters())), 0)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if not input_grad and i == first and isinstance(layer, (Linear, Conv2d)):
                layer.backward(grad, input_grad=False)
                return None
            grad = layer.backward(grad)
        return grad if input_grad else None

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential({inner})"


def _accumulate(p: Parameter, grad: SharedTensor) -> None:
    p.grad = grad if p.grad is None else p.grad + grad


class Linear(Module):
    """y = x W^T + b, W of shape (out, in), like torch.nn.Linear."""

    def __init__(self, weight: SharedTensor, bias: SharedTensor | None = None) -> None:
        self.weight = Parameter(weight, "weight")
        self.bias = Parameter(bias, "bias") if bias is not None else None

    def forward(self, x: SharedTensor) -> SharedTensor:
        self._x = x if self.training else None
        y = x @ self.weight.value.T
        return y + self.bias.value if self.bias is not None else y

    def backward(self, grad: SharedTensor, input_grad: bool = True) -> SharedTensor | None:
        _accumulate(self.weight, grad.T @ self._x)
        if self.bias is not None:
            _accumulate(self.bias, grad.sum(axis=0))
        return grad @ self.weight.value if input_grad else None

    def __repr__(self) -> str:
        out, inp = self.weight.shape
        return f"Linear({inp}, {out}, bias={self.bias is not None})"


class Conv2d(Module):
    """2-D convolution like torch.nn.Conv2d (groups=1, dilation=1); backward by im2col."""

    def __init__(self, weight: SharedTensor, bias: SharedTensor | None = None, stride: int = 1,
                 padding: int = 0) -> None:
        self.weight = Parameter(weight, "weight")
        self.bias = Parameter(bias, "bias") if bias is not None else None
        self.stride, self.padding = int(stride), int(padding)

    def forward(self, x: SharedTensor) -> SharedTensor:
        self._x = x if self.training else None
        y = x.conv2d(self.weight.value, self.stride, self.padding)
        if self.bias is not None:
            y = y + self.bias.value.reshape(1, -1, 1, 1)
        return y

    def backward(self, grad: SharedTensor, input_grad: bool = True) -> SharedTensor | None:
        s = grad._session
        x = self._x
        o, c, kh, kw = self.weight.shape
        n, _, oh, ow = grad.shape
        cols = s.run("im2col", x, kh, kw, self.stride, self.padding)  # (N, L, C*kh*kw)
        g2 = grad.reshape(n, o, oh * ow)
        _accumulate(self.weight, (g2 @ cols).sum(axis=0).reshape(o, c, kh, kw))
        if self.bias is not None:
            _accumulate(self.bias, grad.sum(axis=(0, 2, 3)))
        if not input_grad:
            return None
        dcols = g2.transpose(0, 2, 1) @ self.weight.value.reshape(o, c * kh * kw)
        return s.run("col2im", dcols, x.shape, kh, kw, self.stride, self.padding)

    def __repr__(self) -> str:
        o, c, kh, kw = self.weight.shape
        return f"Conv2d({c}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding})"


class ReLU(Module):
    """max(x, 0) on shares; the backward pass reuses the sign bit of the forward pass."""
    def forward(self, x: SharedTensor) -> SharedTensor:
        if not self.training:
            return x.relu()
        y, self._mask = x._session.relu_with_mask(x)
        return y

    def backward(self, grad: SharedTensor) -> SharedTensor:
        return grad * self._mask

    def __repr__(self) -> str:
        return "ReLU()"


class Sigmoid(Module):
    """The logistic function on shares (exp and a Newton reciprocal)."""
    def forward(self, x: SharedTensor) -> SharedTensor:
        self._y = x.sigmoid()
        return self._y

    def backward(self, grad: SharedTensor) -> SharedTensor:
        return grad * (self._y * (1.0 - self._y))

    def __repr__(self) -> str:
        return "Sigmoid()"


class Tanh(Module):
    """tanh on shares, as 2 sigmoid(2x) - 1."""
    def forward(self, x: SharedTensor) -> SharedTensor:
        self._y = x.tanh()
        return self._y

    def backward(self, grad: SharedTensor) -> SharedTensor:
        return grad * (1.0 - self._y.square())

    def __repr__(self) -> str:
        return "Tanh()"


class Softmax(Module):
    """softmax over the last axis on shares."""
    def __init__(self, dim: int = -1) -> None:
        self.dim = dim

    def forward(self, x: SharedTensor) -> SharedTensor:
        self._y = x.softmax(axis=self.dim)
        return self._y

    def backward(self, grad: SharedTensor) -> SharedTensor:
        y = self._y
        dot = (grad * y).sum(axis=self.dim)
        shape = list(y.shape)
        shape[self.dim] = 1
        return y * (grad - dot.reshape(*shape))

    def __repr__(self) -> str:
        return f"Softmax(dim={self.dim})"


class Flatten(Module):
    """Flattens all but the first axis (public reshape)."""
    def __init__(self, start_dim: int = 1) -> None:
        self.start_dim = start_dim

    def forward(self, x: SharedTensor) -> SharedTensor:
        self._shape = x.shape
        return x.reshape(*x.shape[:self.start_dim], -1)

    def backward(self, grad: SharedTensor) -> SharedTensor:
        return grad.reshape(*self._shape)

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim})"


class _Pool(Module):
    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        self.k = int(kernel_size)
        self.stride = int(stride if stride is not None else kernel_size)
        self.padding = int(padding)

    def _windows(self, x: SharedTensor) -> SharedTensor:
        self._shape = x.shape
        return x._session.run("windows", x, self.k, self.k, self.stride, self.padding)

    def _scatter(self, per_window: SharedTensor) -> SharedTensor:
        """Adjoint of the window extraction: (N, C, OH, OW, k*k) back to (N, C, H, W)."""
        n, c, oh, ow, kk = per_window.shape
        cols = per_window.transpose(0, 2, 3, 1, 4).reshape(n, oh * ow, c * kk)
        return per_window._session.run("col2im", cols, self._shape, self.k, self.k, self.stride, self.padding)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.k}, stride={self.stride}, padding={self.padding})"


class AvgPool2d(_Pool):
    """Average pooling (count_include_pad=True, like torch's default)."""

    def forward(self, x: SharedTensor) -> SharedTensor:
        return self._windows(x).sum(axis=-1) / float(self.k * self.k)

    def backward(self, grad: SharedTensor) -> SharedTensor:
        spread = grad.reshape(*grad.shape, 1) * np.full(self.k * self.k, 1.0 / (self.k * self.k))
        return self._scatter(spread)


class MaxPool2d(_Pool):
    """Max pooling; the backward pass routes the gradient to every position equal to the
    window's maximum (ties share it, unlike torch which picks one)."""

    def forward(self, x: SharedTensor) -> SharedTensor:
        w = self._windows(x)
        m = w.max(axis=-1)
        if self.training:
            self._mask = w == m.reshape(*m.shape, 1) * np.ones(self.k * self.k, dtype=np.int64)
        return m

    def backward(self, grad: SharedTensor) -> SharedTensor:
        spread = grad.reshape(*grad.shape, 1) * np.ones(self.k * self.k, dtype=np.int64)
        return self._scatter(spread * self._mask)


class BatchNorm(Module):
    """Batch normalisation with frozen statistics (inference): y = x * scale + shift, with
    scale and shift shared per channel (axis 1)."""

    def __init__(self, scale: SharedTensor, shift: SharedTensor, ndim: int) -> None:
        self.scale = Parameter(scale, "scale")
        self.shift = Parameter(shift, "shift")
        self.ndim = ndim
        self.training = False

    def forward(self, x: SharedTensor) -> SharedTensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * self.scale.value.reshape(*shape) + self.shift.value.reshape(*shape)

    def parameters(self) -> Iterator[Parameter]:
        return iter(())  # frozen

    def __repr__(self) -> str:
        return f"BatchNorm{self.ndim - 1 if self.ndim > 2 else 1}d({self.scale.shape[0]})"


class Dropout(Module):
    """Identity in eval mode. In training, a public mask: it depends on no data, so the driver
    draws it from the ChaCha20 PRG with a fresh key and applies it to the shares (kept
    entries scaled by 1/(1-p))."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p < 1:
            raise ConfigurationError(f"Dropout probability must be in [0, 1); got {p!r}.")
        self.p = float(p)

    def forward(self, x: SharedTensor) -> SharedTensor:
        if not self.training or self.p == 0:
            return x
        from ..backend import get_backend, new_key

        be = get_backend(name="numpy")
        uniform = be.prg(new_key(), 0, x.shape) >> np.uint64(11)  # 53 random bits
        self._mask = (uniform.astype(np.float64) * 2.0**-53 >= self.p) / (1.0 - self.p)
        return x * self._mask

    def backward(self, grad: SharedTensor) -> SharedTensor:
        return grad if not self.training or self.p == 0 else grad * self._mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


# ---------------------------------------------------------------------- losses
class _Loss(abc.ABC):
    """A loss. ``grad(pred, target)`` is d loss / d pred; ``grad_parts`` gives it as
    (g, scale) with grad = g * scale, so that a trainer can leave the public scale (1 / batch)
    to the optimizer (``SGD.step(grad_scale=...)``): every layer's backward is linear in the
    gradient it receives, and the scale then joins the learning rate's product instead of
    costing a product (a round, with three or more parties) of its own."""

    def __init__(self) -> None:
        self.value: float | None = None

    def grad(self, pred: SharedTensor, target: Any) -> SharedTensor:
        g, scale = self.grad_parts(pred, target)
        return g * scale

    @abc.abstractmethod
    def grad_parts(self, pred: SharedTensor, target: Any) -> tuple[SharedTensor, float]:
        """(g, scale) with d loss / d pred = g * scale; every loss defines it."""

    def _check(self, pred: SharedTensor, target: Any) -> None:
        shape = target.shape if hasattr(target, "shape") else np.shape(target)
        if tuple(shape) != tuple(pred.shape):
            raise ConfigurationError(
                f"{type(self).__name__}: predictions of shape {pred.shape} and targets of shape "
                f"{tuple(shape)} differ; one-hot encode class labels for CrossEntropyLoss.")


class MSELoss(_Loss):
    """Mean squared error; ``grad`` is d loss / d pred = 2 (pred - y) / size."""

    def grad_parts(self, pred: SharedTensor, target: Any) -> tuple[SharedTensor, float]:
        self._check(pred, target)
        return pred - target, 2.0 / pred.size

    def loss(self, pred: SharedTensor, target: Any) -> SharedTensor:
        return (pred - target).square().mean()


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits; ``grad`` = (sigmoid(z) - y) / size."""

    def grad_parts(self, logits: SharedTensor, target: Any) -> tuple[SharedTensor, float]:
        self._check(logits, target)
        return logits.sigmoid() - target, 1.0 / logits.size

    def loss(self, logits: SharedTensor, target: Any) -> SharedTensor:
        # softplus(z) - y z with softplus(z) = relu(z) + log(1 + exp(-|z|))
        absz = logits * logits.sign()
        softplus = logits.relu() + (1.0 + (-absz).exp()).log()
        return (softplus - logits * target).mean()


class CrossEntropyLoss(_Loss):
    """Cross-entropy on logits (N, classes) with one-hot targets; ``grad`` = (softmax - y)/N."""

    def grad_parts(self, logits: SharedTensor, target: Any) -> tuple[SharedTensor, float]:
        self._check(logits, target)
        return logits.softmax(axis=1) - target, 1.0 / logits.shape[0]

    def loss(self, logits: SharedTensor, target: Any) -> SharedTensor:
        logp = logits.softmax(axis=1).log()
        return -(logp * target).sum() / float(logits.shape[0])


# ---------------------------------------------------------------------- optimiser
class SGD:
    """SGD with momentum and weight decay, like torch.optim.SGD (dampening 0, no Nesterov):
    g = grad + wd * w;  v = momentum * v + g;  w = w - lr * v."""

    def __init__(self, params: Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(f"The '{name}' parameter of SGD must be a float >= 0. Got {value!r} instead.")
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)

    def step(self, grad_scale: float = 1.0) -> None:
        """One update. ``grad_scale``: the parameters' gradients are ``grad_scale`` times
        ``p.grad`` (a loss's ``grad_parts``); without momentum and weight decay it joins the
        learning rate's product (no product of its own)."""
        if isinstance(grad_scale, bool) or not isinstance(grad_scale, (int, float)) or not grad_scale > 0:
            raise ConfigurationError(f"SGD.step's 'grad_scale' must be a float > 0. Got {grad_scale!r} instead.")
        params = [p for p in self.params if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        lr = self.lr
        if grad_scale != 1.0:
            if self.weight_decay or self.momentum:
                grads = _scaled(grads, grad_scale)
            else:
                lr = self.lr * grad_scale
        if self.weight_decay:
            grads = [g + d for g, d in zip(grads, _scaled([p.value for p in params], self.weight_decay))]
        if self.momentum:
            old = [p for p in params if p.velocity is not None]
            kept = iter(_scaled([p.velocity for p in old], self.momentum))
            for p, g in zip(params, grads):
                p.velocity = g if p.velocity is None else next(kept) + g
            grads = [p.velocity for p in params]
        for p, change in zip(params, _scaled(grads, lr)):
            p.value = p.value - change
            # a trained weight's magnitude depends on the data: its bound is no longer tracked
            # (worst-case bounds would grow with every step and refuse sound training)
            p.value.bound = None
            if p.velocity is not None:
                p.velocity.bound = None

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


def _scaled(tensors: list[SharedTensor], c: float) -> list[SharedTensor]:
    """Each tensor times the public real c. With three or more parties a product by a public
    real costs a truncation round, so the tensors go flattened into one product (one round for
    all of a model's parameters instead of one each); two parties truncate locally."""
    if len(tensors) < 2 or tensors[0]._session.n_parties < 3:
        return [t * c for t in tensors]
    flat = tensors[0]._session.concat([t.reshape(-1) for t in tensors]) * c
    out, start = [], 0
    for t in tensors:
        out.append(flat[start:start + t.size].reshape(t.shape))
        start += t.size
    return out


# ---------------------------------------------------------------------- torch conversion
SUPPORTED_LAYERS = ("Sequential", "Linear", "Conv2d", "ReLU", "Sigmoid", "Tanh", "Softmax", "Flatten",
                    "AvgPool2d", "MaxPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout", "Identity")


def _pair(v: Any, what: str, layer: str) -> int:
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ConfigurationError(f"{layer}: only square {what} are supported; got {v}.")
        v = v[0]
    return int(v)


def from_torch(module: Any, session: BaseSession) -> Module:
    """The secret-shared twin of a plaintext torch module, its weights shared in ``session``.

    Supported: nn.Sequential of Linear, Conv2d (groups=1, dilation=1, square kernels), ReLU,
    Sigmoid, Tanh, Softmax, Flatten, AvgPool2d, MaxPool2d, BatchNorm1d/2d (frozen statistics),
    Dropout, Identity. Anything else is a ConfigurationError naming the layer.
    """
    import torch

    def share(t: Any) -> SharedTensor:
        return session.share(t.detach().to(torch.float64).cpu().numpy())

    name = type(module).__name__
    nn_ = torch.nn
    if isinstance(module, nn_.Sequential):
        return Sequential(*[from_torch(m, session) for m in module])
    if isinstance(module, nn_.Linear):
        return Linear(share(module.weight), share(module.bias) if module.bias is not None else None)
    if isinstance(module, nn_.Conv2d):
        if module.groups != 1 or _pair(module.dilation, "dilations", name) != 1 or isinstance(module.padding, str):
            raise ConfigurationError("Conv2d: only groups=1, dilation=1 and integer padding are supported.")
        if module.padding_mode != "zeros":
            raise ConfigurationError("Conv2d: only padding_mode='zeros' is supported.")
        _pair(module.kernel_size, "kernels", name)
        return Conv2d(share(module.weight), share(module.bias) if module.bias is not None else None,
                      _pair(module.stride, "strides", name), _pair(module.padding, "paddings", name))
    if isinstance(module, nn_.ReLU):
        return ReLU()
    if isinstance(module, nn_.Sigmoid):
        return Sigmoid()
    if isinstance(module, nn_.Tanh):
        return Tanh()
    if isinstance(module, nn_.Softmax):
        return Softmax(dim=module.dim if module.dim is not None else -1)
    if isinstance(module, nn_.Flatten):
        if module.end_dim != -1:
            raise ConfigurationError("Flatten: only end_dim=-1 is supported.")
        return Flatten(module.start_dim)
    if isinstance(module, (nn_.AvgPool2d, nn_.MaxPool2d)):
        if isinstance(module, nn_.AvgPool2d) and (module.ceil_mode or not module.count_include_pad
                                                  or module.divisor_override):
            raise ConfigurationError("AvgPool2d: only ceil_mode=False, count_include_pad=True, no divisor_override.")
        if isinstance(module, nn_.MaxPool2d) and (module.ceil_mode or _pair(module.dilation, "dilations", name) != 1):
            raise ConfigurationError("MaxPool2d: only ceil_mode=False and dilation=1 are supported.")
        cls = AvgPool2d if isinstance(module, nn_.AvgPool2d) else MaxPool2d
        stride = module.stride if module.stride is not None else module.kernel_size
        return cls(_pair(module.kernel_size, "kernels", name), _pair(stride, "strides", name),
                   _pair(module.padding, "paddings", name))
    if isinstance(module, (nn_.BatchNorm1d, nn_.BatchNorm2d)):
        if module.running_mean is None:
            raise ConfigurationError(f"{name}: track_running_stats=False is not supported.")
        inv = 1.0 / torch.sqrt(module.running_var.to(torch.float64) + module.eps)
        gamma = module.weight.detach().to(torch.float64) if module.affine else torch.ones_like(inv)
        beta = module.bias.detach().to(torch.float64) if module.affine else torch.zeros_like(inv)
        scale = gamma * inv
        shift = beta - module.running_mean.to(torch.float64) * scale
        return BatchNorm(share(scale), share(shift), 2 if isinstance(module, nn_.BatchNorm1d) else 4)
    if isinstance(module, nn_.Dropout):
        return Dropout(module.p)
    if isinstance(module, nn_.Identity):
        return Sequential()
    raise ConfigurationError(
        f"Layer {name} has no SMPC twin. Supported layers: {', '.join(SUPPORTED_LAYERS)}.")


def to_torch(model: Module, template: Any) -> Any:
    """Reveal the shared weights into a deep copy of the plaintext ``template`` module.

    This discloses the model to the caller: it is a deliberate, explicit step.
    """
    import copy

    import torch

    out = copy.deepcopy(template)
    ours = [p for p in model.parameters()]
    theirs = [p for m in out.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
              for p in ([m.weight] + ([m.bias] if m.bias is not None else []))]
    if len(ours) != len(theirs):
        raise ConfigurationError("to_torch: the template's trainable layers do not match the model.")
    with torch.no_grad():
        for mine, target in zip(ours, theirs):
            if tuple(mine.shape) != tuple(target.shape):
                raise ConfigurationError(f"to_torch: shape {mine.shape} does not match {tuple(target.shape)}.")
            target.copy_(torch.from_numpy(mine.value.reveal()).to(target.dtype))
    return out
