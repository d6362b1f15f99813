"""Checks for exercises: each one passes silently or fails with a message that says what to fix.

The check cells after an exercise call these, for example ``check_shape(scores, (64, 10), "scores")``.
A failing check raises ``AssertionError``, which is also how the autograder knows the exercise is wrong.
They accept NumPy arrays, PyTorch tensors and plain numbers alike.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TYPE_CHECKING
from unittest import mock

import numpy as np

if TYPE_CHECKING:
    import torch

# Every way into PyTorch's autograd: .backward(), torch.autograd.backward/grad, and the engine they share
# (which torch.func and torch.autograd.functional also reach).
AUTOGRAD = ("torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad",
            "torch.autograd._engine_run_backward")


def _as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU or needing grad
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _where(index: tuple[int, ...], name: str) -> str:
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def check_type(value, expected: type | tuple[type, ...], name: str = "value") -> None:
    """Fail unless ``value`` is an instance of ``expected``."""
    if value is None:
        raise AssertionError(f"{name} is None: did you forget to `return` it?")
    if not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise AssertionError(f"{name} should be a {names}, got {type(value).__name__}.")


def check_shape(value, expected: Sequence[int], name: str = "value") -> None:
    """Fail unless ``value`` has exactly the shape ``expected``."""
    if value is None:
        raise AssertionError(f"{name} is None: did you forget to `return` it?")
    actual = tuple(_as_array(value).shape) if not hasattr(value, "shape") else tuple(value.shape)
    if actual != tuple(expected):
        raise AssertionError(f"{name}: expected shape {tuple(expected)}, got {actual}.")


def check_close(actual, expected, name: str = "value", atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Fail unless ``actual`` matches ``expected`` within tolerance; the message shows the worst entry."""
    if actual is None:
        raise AssertionError(f"{name} is None: did you forget to `return` it?")
    a, e = _as_array(actual).astype(float), _as_array(expected).astype(float)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: expected shape {e.shape}, got {a.shape}.")
    if np.isnan(a).any() and not np.isnan(e).any():
        index = tuple(int(i) for i in np.argwhere(np.isnan(a))[0])
        raise AssertionError(f"{name} contains NaN (first at {_where(index, name)}): look for a log of 0, "
                             "a division by 0, or an overflowing exp.")
    if not np.allclose(a, e, atol=atol, rtol=rtol, equal_nan=True):
        error = np.abs(a - e) - (atol + rtol * np.abs(e))
        index = tuple(int(i) for i in np.unravel_index(np.nanargmax(error), a.shape)) if a.ndim else ()
        raise AssertionError(f"{name} is off: at {_where(index, name)} you have {a[index]:.6g}, expected "
                             f"{e[index]:.6g} (difference {abs(a[index] - e[index]):.3g}).")


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Return the gradient of scalar function ``f`` at ``x`` by central differences, entry by entry."""
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        above = f(x)
        x[index] = original - eps
        below = f(x)
        x[index] = original
        grad[index] = (above - below) / (2 * eps)
    return grad


def check_gradient(f: Callable[[np.ndarray], float], grad, x: np.ndarray, name: str = "w",
                   tolerance: float = 1e-4) -> None:
    """Fail unless ``grad`` (your gradient of f at x) matches the numerical gradient."""
    if grad is None:
        raise AssertionError("Your gradient is None: did you forget to `return` it?")
    analytic = _as_array(grad).astype(float)
    numeric = numerical_gradient(f, x)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"Your gradient has shape {analytic.shape}, but {name} has shape {numeric.shape}: "
                             "the gradient has one entry per parameter.")
    scale = np.maximum(1.0, np.abs(numeric))
    error = np.abs(analytic - numeric) / scale
    if error.max() > tolerance:
        index = tuple(int(i) for i in np.unravel_index(np.argmax(error), error.shape))
        raise AssertionError(f"Your gradient differs from the numerical gradient by "
                             f"{abs(analytic[index] - numeric[index]):.3g} at {_where(index, name)} "
                             f"(yours {analytic[index]:.6g}, numerical {numeric[index]:.6g}).")


def check_model_output(model, input_shape: Sequence[int], expected_shape: Sequence[int],
                       name: str = "model") -> None:
    """Fail unless ``model`` maps a random batch of ``input_shape`` to an output of ``expected_shape``."""
    import torch

    model.eval()
    with torch.no_grad():
        try:
            output = model(torch.randn(*input_shape))
        except RuntimeError as err:
            raise AssertionError(f"{name} failed on an input of shape {tuple(input_shape)}: {err}") from err
    check_shape(output, expected_shape, f"{name} output")


def check_parameter_count(model, expected: int, name: str = "model") -> None:
    """Fail unless ``model`` has exactly ``expected`` trainable parameters."""
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if count != expected:
        raise AssertionError(f"{name} has {count:,} trainable parameters, expected {expected:,}: "
                             "check the layer sizes against the table.")


def without(forbidden: Sequence[str], function: Callable, *args, **kwargs):
    """Return ``function(*args, **kwargs)``, computed while each of the ``forbidden`` functions fails.

    For exercises done "by hand": ``without(["torch.nn.functional.conv2d"], conv2d, image, kernel)``
    fails with a clear message if the answer calls the library function it should reimplement.
    """
    with switched_off(forbidden):
        return function(*args, **kwargs)


@contextmanager
def switched_off(targets: Sequence[str] = (), torch_functions: Iterable[str] = (),
                 message: str | None = None) -> Iterator[None]:
    """Within the block, calling any of ``targets`` (dotted paths) or a PyTorch function named in
    ``torch_functions`` fails with ``message``; yields nothing.

    A target is switched off under every module-level name it has: an alias such as
    ``from torchvision.ops import box_iou`` in the notebook, or the library's own second name for it
    (``torchvision.ops.boxes.box_iou``). The torch names catch a PyTorch function however it is reached
    (``torch.conv2d``, ``F.conv2d``, a module's forward), because PyTorch reports every call to a function
    mode. Targets of a library that is not installed (scipy, say) are skipped.
    """
    names = set(torch_functions)
    with ExitStack() as stack:
        found = {}  # id of each library function -> [(its dotted path, where it lives, its name there)]
        for target in targets:
            owner_path, _, attribute = target.rpartition(".")
            owner = _resolve(owner_path)
            if owner is not None and hasattr(owner, attribute):
                found.setdefault(id(getattr(owner, attribute)), []).append((target, owner, attribute))
        packages = {target.partition(".")[0] for target in targets}
        aliases = _module_level_names(found.keys(), packages)
        for key, places in found.items():
            refusal = _refusal(places[0][0], message)
            for module, name in {(owner, attribute) for _, owner, attribute in places} | set(aliases[key]):
                stack.enter_context(mock.patch.object(module, name, refusal))
        if names:
            stack.enter_context(_torch_function_refusal(names, message))
        yield


def torch_optim_targets() -> list[str]:
    """Return the dotted paths that create or step a ``torch.optim`` optimizer, for ``switched_off``."""
    import torch

    targets = ["torch.optim.Optimizer.__init__"]
    for name, cls in vars(torch.optim).items():
        if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and "step" in vars(cls):
            targets.append(f"torch.optim.{name}.step")
    for name in ("sgd", "adam", "adamw", "rmsprop", "nadam", "radam", "adamax", "adagrad"):
        # The functional forms, and the private loops they dispatch to (reachable by name as well).
        targets += [f"torch.optim.{name}.{name}", f"torch.optim._functional.{name}"]
        targets += [f"torch.optim.{name}._{kind}_{name}" for kind in ("single_tensor", "multi_tensor", "fused")]
    return targets


OPTIMIZER_SWITCHED_OFF = "Write the update by hand: torch.optim is switched off inside this check"


def optimizer_switched_off(extra_targets: Sequence[str] = (),
                           torch_functions: Iterable[str] = ()) -> AbstractContextManager[None]:
    """Return a block within which creating or stepping any ``torch.optim`` optimizer fails the check.

    ``extra_targets`` (dotted paths) and ``torch_functions`` (PyTorch function names, e.g. a fused kernel
    such as ``"_fused_adagrad_"``) are switched off as well; see ``switched_off``.
    """
    return switched_off(torch_optim_targets() + list(extra_targets), torch_functions=torch_functions,
                        message=OPTIMIZER_SWITCHED_OFF)


def curved_gradient(w: torch.Tensor) -> torch.Tensor:
    """Return the gradient of sum(c * (w - 1)**2 + 0.1 * w**4), c from 0.5 to 3: it changes at every step."""
    import torch

    c = torch.linspace(0.5, 3.0, w.numel(), dtype=w.dtype).reshape(w.shape)
    return 2 * c * (w - 1) + 0.4 * w ** 3


def torch_optimizer_path(optimizer_class: type[torch.optim.Optimizer], start: torch.Tensor, steps: int,
                         grad: Callable[[torch.Tensor], torch.Tensor], **hyper) -> torch.Tensor:
    """Return the (steps, *start.shape) points ``optimizer_class(**hyper)`` visits from ``start``.

    At every step the gradient is ``grad(current point)``. Call it outside ``optimizer_switched_off``.
    """
    import torch

    w = torch.nn.Parameter(start.clone())
    optimizer = optimizer_class([w], **hyper)
    points = []
    for _ in range(steps):
        w.grad = grad(w.detach())
        optimizer.step()
        points.append(w.detach().clone())
    return torch.stack(points)


def update_rule_path(rule: Callable[..., torch.Tensor], start: torch.Tensor, steps: int,
                     grad: Callable[[torch.Tensor], torch.Tensor], *, extra_targets: Sequence[str] = (),
                     torch_functions: Iterable[str] = (), **hyper) -> torch.Tensor:
    """Return the (steps, *start.shape) points ``rule(p, g, state, **hyper)`` visits from ``start``.

    The rule gets ``grad(p)`` and one state dict for the whole path, and runs with torch.optim (and
    ``extra_targets``, ``torch_functions``) switched off; each step must return the new parameter as a tensor.
    """
    import torch

    w, state, points = start.clone(), {}, []
    with optimizer_switched_off(extra_targets, torch_functions):
        for _ in range(steps):
            w = rule(w, grad(w), state, **hyper)
            if not isinstance(w, torch.Tensor):
                raise AssertionError(f"return the new parameter as a tensor, got {type(w).__name__}")
            points.append(w.detach().clone())
    return torch.stack(points)


def update_rule_on_two_parameters(rule: Callable[..., torch.Tensor], first: torch.Tensor, second: torch.Tensor,
                                  steps: int, grad: Callable[[torch.Tensor], torch.Tensor], *,
                                  extra_targets: Sequence[str] = (), torch_functions: Iterable[str] = (),
                                  **hyper) -> tuple[torch.Tensor, torch.Tensor]:
    """Return where ``rule`` takes two parameters stepped in turn, each with its own state dict.

    Nothing may leak from one parameter's state to the other's: each should end where it would alone.
    Runs with torch.optim switched off, as ``update_rule_path`` does.
    """
    a, b, state_a, state_b = first.clone(), second.clone(), {}, {}
    with optimizer_switched_off(extra_targets, torch_functions):
        for _ in range(steps):
            a = rule(a, grad(a), state_a, **hyper)
            b = rule(b, grad(b), state_b, **hyper)
    return a, b


@contextmanager
def module_switched_off(modules, names: Sequence[str], message: str) -> Iterator[None]:
    """Within the block, calling the functions ``names`` of ``modules`` (one module or several) fails with
    ``message``, and so does any call into their source files at all (an alias imported earlier, a private
    helper); yields nothing.

    The second net is a profiler that watches for calls into the modules' files, checked when the block ends.
    Give several modules in one call: a profiler set by a nested block would replace this one's.
    """
    modules = [modules] if isinstance(modules, types.ModuleType) else list(modules)
    names_of_files, calls = {module.__file__: module.__name__ for module in modules}, []

    def watch(frame, event, arg):
        if event == "call" and frame.f_code.co_filename in names_of_files:
            calls.append(f"{names_of_files[frame.f_code.co_filename]}.{frame.f_code.co_name}")

    with switched_off([f"{module.__name__}.{name}" for module in modules for name in names], message=message):
        previous = sys.getprofile()
        sys.setprofile(watch)
        try:
            yield
        finally:
            sys.setprofile(previous)
    assert not calls, f"{message} (your code called {calls[0]})."


def without_autograd(function: Callable, *args, **kwargs):
    """Return ``function(*args, **kwargs)``, computed while every way into PyTorch's autograd fails."""
    return without(AUTOGRAD, function, *args, **kwargs)


def _resolve(path: str):
    """Return the module or class named by a dotted path, or None if it does not exist here."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            target = getattr(target, name, None)
        return target
    return None


def _module_level_names(ids: Iterable[int], packages: set[str]) -> dict[int, list[tuple]]:
    """Return, for each object id in ``ids``, every (module, name) bound to that object in the notebook's
    namespace (``__main__`` in a jupyter kernel) or in a module of ``packages``."""
    names = {key: [] for key in ids}
    for module_name, module in list(sys.modules.items()):
        if module_name == "__main__" or module_name.partition(".")[0] in packages:
            for name, value in list(getattr(module, "__dict__", {}).items()):
                if id(value) in names and not isinstance(value, types.ModuleType):
                    names[id(value)].append((module, name))
    return names


def _refusal(target: str, message: str | None = None) -> Callable:
    # One function per target: sharing a single mock between targets confuses torch's own tracing code.
    def refuse(*_args, **_kwargs):
        if message:
            raise AssertionError(f"{message} (your code called {target}).")
        if target in AUTOGRAD:
            raise AssertionError(f"Compute the gradient by hand, without autograd (your code called {target}).")
        raise AssertionError(f"Write this by hand: your code called {target}, the library function it replaces.")
    return refuse


def _torch_function_refusal(names: set[str], message: str | None):
    """Return a function mode that fails every PyTorch function call whose name is in ``names``."""
    import torch

    class Refuse(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in names:
                raise AssertionError(f"{message or 'Write this by hand'} (your code called torch's {name}).")
            return func(*args, **(kwargs or {}))

    return Refuse()
