"""Gaussian approximations built from exact second derivatives: the Laplace approximation and DADVI's linear response.

Both methods end in a Gaussian whose precision is a Hessian at an optimum:

- **Laplace**: the mode of the log density on the unconstrained space, and the Hessian of minus the log density there.
  The mode is the density's with the log-Jacobian of the transforms (``jacobian=True``, the default): the Gaussian is a
  density over the unconstrained coordinates, so its centre and curvature should be those of the unconstrained
  density (Stan's ``laplace`` method makes the same choice). pymc-extras' ``fit_laplace`` uses the mode without the
  Jacobian, the constrained parameters' MAP; ``jacobian=False`` gives that.
- **DADVI + LRVB** (Giordano, Ingram and Broderick 2024): DADVI's mean-field optimum, with the covariance of the means
  from linear response, the means' block of the inverse Hessian of the DADVI objective over all the variational
  parameters (means and log sds) at its optimum. Mean-field's own sds leave out every correlation; the linear
  response puts them back.

The optimiser is SciPy's trust-region Newton-CG (``trust-ncg``) with exact Hessian-vector products from PyTensor, so the
Hessian is never estimated from the path (BFGS's ``hess_inv`` is: it changes with the last bits of a float).

The Hessian itself is formed from Hessian-vector products. Dense for a few hundred parameters. For a hierarchical model
with many groups it is block-arrow shaped: one small block per group, coupled only through the shared parameters. With
``group_dim`` given, the Hessian is recovered from one product per position within a group plus one per shared
coordinate (a colouring of its sparsity pattern), whatever the number of groups, and checked against a product with a
random vector; the Gaussian is then drawn and evaluated through the Schur complement of the shared block.
"""

from __future__ import annotations

import time
import warnings
import weakref
from dataclasses import dataclass, field

import numpy as np
import pymc as pm

from recipes_utils.compile_cache import cacheable_compiles

#: An optimum's largest absolute gradient (of minus the log density, or of the DADVI objective, in nats) below which it
#: counts as converged whatever the optimiser's message.
GRAD_TOL = 1e-4

#: Above this many coordinates the dense Hessian is not formed; pass ``group_dim`` for a hierarchical model.
DENSE_LIMIT = 2_000


# --------------------------------------------------------------------------------------------------------------------
# Precision matrices: dense, or block-arrow (per-group blocks coupled through shared coordinates)


class DensePrecision:
    """A dense symmetric positive-definite precision matrix ``H``."""

    def __init__(self, hessian: np.ndarray):
        hessian = (np.asarray(hessian, dtype=float) + np.asarray(hessian, dtype=float).T) / 2
        self.n = hessian.shape[0]
        self.hessian, self.floored = _floor_eigenvalues(hessian)
        self.chol = np.linalg.cholesky(self.hessian)

    def draw(self, n_draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n_draws`` deviations from the mean, ``N(0, H^-1)``, and their log densities."""
        from scipy.linalg import solve_triangular

        z = rng.standard_normal((n_draws, self.n))
        x = solve_triangular(self.chol, z.T, lower=True, trans="T").T
        return x, self.logpdf_from_z(z)

    def logpdf_from_z(self, z):
        log_det = 2 * np.log(np.diag(self.chol)).sum()
        return -0.5 * (z**2).sum(axis=1) + 0.5 * log_det - 0.5 * self.n * np.log(2 * np.pi)

    def covariance(self) -> np.ndarray:
        eye = np.eye(self.n)
        from scipy.linalg import cho_solve

        return cho_solve((self.chol, True), eye)

    def marginal_sd(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance()))


class ArrowPrecision:
    """A block-arrow precision: ``D[g]`` (k x k) per group, ``B[g]`` (k x s) coupling each to the shared block ``C``.

    ``index[g, j]`` is the flat coordinate of position ``j`` of group ``g``; ``shared`` the shared coordinates.
    """

    def __init__(self, D, B, C, index, shared):
        self.D, self.B, self.C = np.asarray(D, float), np.asarray(B, float), np.asarray(C, float)
        self.index, self.shared = np.asarray(index), np.asarray(shared)
        self.n = self.index.size + self.shared.size
        self.D = (self.D + np.swapaxes(self.D, 1, 2)) / 2
        floored = 0
        for g in range(len(self.D)):
            self.D[g], f = _floor_eigenvalues(self.D[g])
            floored += f
        self.L = np.linalg.cholesky(self.D)  # (G, k, k)
        self.W = np.linalg.solve(self.D, self.B)  # D^-1 B: (G, k, s)
        schur = self.C - np.einsum("gks,gkt->st", self.B, self.W)
        schur, f = _floor_eigenvalues((schur + schur.T) / 2)
        self.floored = floored + f
        self.schur = schur
        self.L_S = np.linalg.cholesky(schur)

    def draw(self, n_draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        from scipy.linalg import solve_triangular

        G, k = self.index.shape
        s = self.shared.size
        z_s = rng.standard_normal((n_draws, s))
        z_g = rng.standard_normal((n_draws, G, k))
        x_s = solve_triangular(self.L_S, z_s.T, lower=True, trans="T").T if s else z_s
        # x_g = L_g^-T z_g - W_g x_s
        Lt = np.swapaxes(self.L, 1, 2)
        x_g = np.linalg.solve(Lt[None], z_g[..., None])[..., 0] - np.einsum("gks,ns->ngk", self.W, x_s)
        x = np.empty((n_draws, self.n))
        x[:, self.index.reshape(-1)] = x_g.reshape(n_draws, -1)
        x[:, self.shared] = x_s
        log_det = 2 * np.log(np.diagonal(self.L, axis1=1, axis2=2)).sum() + 2 * np.log(np.diag(self.L_S)).sum()
        logq = -0.5 * ((z_g**2).sum(axis=(1, 2)) + (z_s**2).sum(axis=1)) + 0.5 * log_det
        return x, logq - 0.5 * self.n * np.log(2 * np.pi)

    def marginal_sd(self) -> np.ndarray:
        from scipy.linalg import cho_solve

        s_inv = cho_solve((self.L_S, True), np.eye(self.shared.size)) if self.shared.size else np.zeros((0, 0))
        d_inv = np.linalg.inv(self.D)
        var_g = np.diagonal(d_inv, axis1=1, axis2=2) + np.einsum("gks,st,gkt->gk", self.W, s_inv, self.W)
        var = np.empty(self.n)
        var[self.index.reshape(-1)] = var_g.reshape(-1)
        var[self.shared] = np.diag(s_inv)
        return np.sqrt(var)

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """``H @ v`` assembled from the blocks (to check them against a Hessian-vector product)."""
        vg, vs = v[self.index], v[self.shared]
        out = np.empty_like(v)
        out[self.index] = np.einsum("gjk,gk->gj", self.D, vg) + self.B @ vs
        out[self.shared] = np.einsum("gks,gk->s", self.B, vg) + self.C @ vs
        return out


def _floor_eigenvalues(H: np.ndarray, rel: float = 1e-10) -> tuple[np.ndarray, int]:
    """``H`` unchanged if positive definite, else with its eigenvalues floored at ``rel`` of the largest; the count of
    floored eigenvalues (0 at a proper optimum)."""
    try:
        np.linalg.cholesky(H)
        return H, 0
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(H)
        floor = rel * max(abs(w).max(), 1.0)
        n = int((w < floor).sum())
        return (v * np.maximum(w, floor)) @ v.T, n


# --------------------------------------------------------------------------------------------------------------------
# Hessians from Hessian-vector products


def coordinate_groups(model: pm.Model, group_dim: str, n_blocks: int = 1):
    """Which group each flat unconstrained coordinate belongs to, and its position within the group's block.

    Coordinates are in the order of ``DictToArrayBijection.map(model.initial_point())``. A variable whose dims include
    ``group_dim`` contributes one position per element of its other axes to every group; any other variable is shared.
    ``n_blocks`` repeats the layout (DADVI's means then log sds). Returns ``(index, shared)``: ``index[g, j]`` the flat
    coordinate of position ``j`` in group ``g``, ``shared`` the shared coordinates.
    """
    from pymc.blocking import DictToArrayBijection

    info = DictToArrayBijection.map(model.initial_point()).point_map_info
    dims = model.named_vars_to_dims
    value_to_rv = {v.name: rv.name for v, rv in zip(model.value_vars, model.free_RVs, strict=True)}
    columns, shared, start = [], [], 0
    n_groups = None
    for name, shape, size, _dtype in info:
        coords = np.arange(start, start + size).reshape(shape)
        d = dims.get(value_to_rv.get(name, name), ())
        if group_dim in (d or ()):
            axis = list(d).index(group_dim)
            per_group = np.moveaxis(coords, axis, 0).reshape(shape[axis], -1)
            if n_groups is not None and per_group.shape[0] != n_groups:
                raise ValueError(f"variables along {group_dim!r} disagree on its length")
            n_groups = per_group.shape[0]
            columns.append(per_group)
        else:
            shared.extend(coords.reshape(-1).tolist())
        start += size
    if n_groups is None:
        raise ValueError(f"no free variable of the model has the dimension {group_dim!r}")
    index = np.concatenate(columns, axis=1)
    shared = np.asarray(shared, dtype=int)
    if n_blocks > 1:
        index = np.concatenate([index + b * start for b in range(n_blocks)], axis=1)
        shared = np.concatenate([shared + b * start for b in range(n_blocks)])
    return index, shared


def dense_hessian(hessp, x: np.ndarray) -> np.ndarray:
    """The Hessian at ``x`` from ``hessp(x, v)``, one product per coordinate."""
    eye = np.eye(x.size)
    return np.stack([np.asarray(hessp(x, eye[i])) for i in range(x.size)], axis=1)


def arrow_hessian(hessp, x: np.ndarray, index: np.ndarray, shared: np.ndarray, *, rtol: float = 1e-6) -> ArrowPrecision:
    """The block-arrow Hessian at ``x`` from ``k + s`` Hessian-vector products (``k`` positions per group, ``s`` shared
    coordinates), checked against the product with a random vector.

    Groups must be coupled only through the shared coordinates (cross-group second derivatives zero): true of a
    hierarchical model whose groups share nothing but population parameters. The check raises otherwise.
    """
    G, k = index.shape
    n = x.size
    D = np.empty((G, k, k))
    for j in range(k):
        probe = np.zeros(n)
        probe[index[:, j]] = 1.0
        hv = np.asarray(hessp(x, probe))
        D[:, :, j] = hv[index]  # within a group, only position j of that group contributes
    cols = []
    for c in shared:
        probe = np.zeros(n)
        probe[c] = 1.0
        cols.append(np.asarray(hessp(x, probe)))
    cols = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    B = cols[index]  # (G, k, s)
    C = cols[shared]
    v = np.random.default_rng(0).standard_normal(n)
    exact = np.asarray(hessp(x, v))
    H = ArrowPrecision.__new__(ArrowPrecision)
    H.D, H.B, H.C, H.index, H.shared = D, B, C, index, shared
    assembled = ArrowPrecision.matvec(H, v)
    err = np.abs(assembled - exact).max() / max(np.abs(exact).max(), 1e-300)
    if err > rtol:
        raise ValueError(
            f"the Hessian is not block-arrow along the groups (relative error {err:.1e} of a product assembled from "
            "the blocks): the groups are coupled other than through the shared parameters; use the dense Hessian"
        )
    return ArrowPrecision(D, B, C, index, shared)


# --------------------------------------------------------------------------------------------------------------------
# The two approximations


@dataclass
class GaussianFit:
    """A Gaussian on the model's unconstrained space, with how it was found."""

    mean: np.ndarray  # flat unconstrained, DictToArrayBijection order
    precision: DensePrecision | ArrowPrecision
    seconds: float
    converged: bool  # the optimiser's own verdict
    iterations: int
    grad_norm: float  # largest absolute gradient at the optimum
    floored_eigenvalues: int  # Hessian eigenvalues floored to make it positive definite (0 at a proper optimum)
    info: dict = field(default_factory=dict)

    def draws(self, n_draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draws on the flat unconstrained space and their log density under the Gaussian."""
        dx, logq = self.precision.draw(n_draws, np.random.default_rng(seed))
        return self.mean + dx, logq


def _compile(model, loss, inputs, initial_point, inputs_are_flat, mode):
    from pymc_extras.inference.laplace_approx.scipy_interface import scipy_optimize_funcs_from_loss

    compile_kwargs = {"mode": mode} if mode else {}
    with cacheable_compiles():
        return scipy_optimize_funcs_from_loss(
            loss=loss, inputs=inputs, initial_point_dict=initial_point, use_grad=True, use_hess=False,
            use_hessp=True, compile_kwargs=compile_kwargs, inputs_are_flat=inputs_are_flat,
        )  # fmt: skip


class LaplaceFunctions:
    """The loss (minus the log density, with or without the Jacobian), its gradient and Hessian-vector product on the
    flat unconstrained space, compiled once; the model's ``pm.Data`` stay shared, so new data need no new compile.

    ``mode="auto"`` compiles with Numba unless Numba would run some operation in its slow object mode; then with
    PyTensor's default backend. The functions are called once here, so that Numba's compilation, which happens at the
    first call, is done and counted in ``compile_seconds``.
    """

    def __init__(self, model: pm.Model, *, jacobian: bool = True, mode: str | None = "auto"):
        from pymc.blocking import DictToArrayBijection

        start = time.perf_counter()
        point = model.initial_point()
        self.x0 = DictToArrayBijection.map(point).data.copy()
        args = (model, -model.logp(jacobian=jacobian), model.continuous_value_vars,
                DictToArrayBijection.rmap(DictToArrayBijection.map(point)), False)  # fmt: skip
        if mode == "auto":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self.f, self.hessp = _compile(*args, "NUMBA")
                self._first_calls()
            if any("object mode" in str(w.message) for w in caught):
                self.f, self.hessp = _compile(*args, None)
                self._first_calls()
        else:
            self.f, self.hessp = _compile(*args, mode)
            self._first_calls()
        self.jacobian = jacobian
        self.compile_seconds = time.perf_counter() - start

    def _first_calls(self):
        self.f(self.x0)
        self.hessp(self.x0, np.zeros_like(self.x0))


# model -> {(jacobian, mode): LaplaceFunctions}: one compilation per model, shared by Laplace, DADVI and LRVB
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_functions(model: pm.Model, *, jacobian: bool = True, mode: str | None = "auto") -> LaplaceFunctions:
    """The model's :class:`LaplaceFunctions`, compiled at the first call for a model and reused after it.

    Laplace, DADVI and DADVI + LRVB all need the same three functions of the model's log density (with the Jacobian):
    its value, gradient and Hessian-vector product at a point. Compiled once, they serve all three methods.
    """
    per_model = _FUNCTIONS.setdefault(model, {})
    if (jacobian, mode) not in per_model:
        per_model[(jacobian, mode)] = LaplaceFunctions(model, jacobian=jacobian, mode=mode)
    return per_model[(jacobian, mode)]


class DadviFunctions:
    """DADVI's objective over the variational parameters ``eta = (means, log sds)``, with its gradient and
    Hessian-vector product, from the model's own compiled functions (:func:`model_functions`).

    The objective is pymc-extras' (``create_dadvi_graph``): with ``n_fixed_draws`` fixed standard-normal draws
    ``z_k`` (from ``np.random.default_rng(draws_seed)``), points ``x_k = means + exp(log sds) * z_k``, and ``L`` minus
    the log density with the Jacobian::

        objective(eta) = mean_k L(x_k) - sum(log sds)

    pymc-extras compiles it as one graph with the model's density vectorised over the draws; here it is assembled by
    the chain rule from ``L``'s gradient and Hessian-vector products at each ``x_k``. The numbers are the same (checked
    against pymc-extras' graph in ``tests/test_approximations.py``); the compiled functions are the Laplace
    approximation's, so the two methods compile once between them, not twice (the vectorised graph also took about
    three times as long to compile).
    """

    def __init__(self, model: pm.Model, *, n_fixed_draws: int = 30, draws_seed: int = 0, mode: str | None = "auto"):
        self.base = model_functions(model, jacobian=True, mode=mode)
        self.compile_seconds = self.base.compile_seconds  # the compilation DADVI needs, here or earlier for Laplace
        self.n = n = self.base.x0.size
        self.draws = np.random.default_rng(seed=draws_seed).standard_normal(size=(n_fixed_draws, n))
        self.x0 = np.zeros(2 * n)
        self._last = None  # (eta, gradients of L at its points), for the next Hessian-vector product at that eta

    def _points(self, eta):
        eta = np.asarray(eta, dtype=float)
        w = np.exp(eta[self.n :]) * self.draws  # d x_k / d log sds, elementwise
        return eta[: self.n] + w, w

    def f(self, eta):
        """The objective and its gradient at ``eta``."""
        eta = np.asarray(eta, dtype=float)
        x, w = self._points(eta)
        values = np.empty(len(x))
        grads = np.empty_like(x)
        for k, xk in enumerate(x):
            value, grad = self.base.f(xk)
            values[k], grads[k] = value, grad
        self._last = (eta.copy(), grads)
        grad = np.concatenate([grads.mean(axis=0), (grads * w).mean(axis=0) - 1.0])
        return values.mean() - np.sum(eta[self.n :]), grad

    def hessp(self, eta, p):
        """The objective's Hessian at ``eta`` times ``p``."""
        x, w = self._points(eta)
        if self._last is None or not np.array_equal(self._last[0], eta):
            self.f(eta)
        grads = self._last[1]
        p = np.asarray(p, dtype=float)
        u = p[: self.n] + w * p[self.n :]  # d x_k along p
        hu = np.empty_like(x)
        for k in range(len(x)):
            hu[k] = self.base.hessp(x[k], u[k])
        return np.concatenate([hu.mean(axis=0), (hu * w).mean(axis=0) + (grads * w).mean(axis=0) * p[self.n :]])


def _minimize(funcs, x0, **options):
    """SciPy's trust-region Newton-CG through better_optimize, as pymc-extras calls it (its iteration and tolerance
    defaults), with exact Hessian-vector products."""
    from better_optimize import minimize

    from recipes_utils.inference import show_progress

    res = minimize(f=funcs.f, x0=x0, method="trust-ncg", hessp=funcs.hessp, progressbar=show_progress(), **options)
    # SciPy's trust-ncg can end on "A bad approximation caused failure to predict improvement" at a point whose gradient
    # is zero to rounding: a converged optimum. Judge by the gradient, not the flag alone.
    res.grad_norm = float(np.abs(res.jac).max())
    res.success = bool(res.success or res.grad_norm < GRAD_TOL)
    return res


def _precision(funcs, x, model, group_dim, n_blocks):
    if group_dim is not None:
        index, shared = coordinate_groups(model, group_dim, n_blocks)
        return arrow_hessian(funcs.hessp, x, index, shared)
    if x.size > DENSE_LIMIT:
        raise ValueError(
            f"{x.size} coordinates: the dense Hessian would take {x.size} Hessian-vector products and "
            f"{8 * x.size**2 / 1e9:.1f} GB; give group_dim for a hierarchical model (block-arrow Hessian)"
        )
    return DensePrecision(dense_hessian(funcs.hessp, x))


def laplace(
    model: pm.Model,
    *,
    jacobian: bool = True,
    group_dim: str | None = None,
    funcs: LaplaceFunctions | None = None,
    x0: np.ndarray | None = None,
    mode: str | None = "auto",
    **options,
) -> GaussianFit:
    """The Laplace approximation: trust-region Newton to the mode, the exact Hessian there as the precision.

    ``jacobian`` chooses the mode (see the module docs). ``group_dim`` names the groups' dimension of a hierarchical
    model, for the block-arrow Hessian (required above :data:`DENSE_LIMIT` coordinates). ``funcs`` reuses compiled
    functions (:class:`LaplaceFunctions`) for new data in the model's ``pm.Data``. The fit's ``seconds`` count the
    compilation (``funcs.compile_seconds``, whenever it was done) unless ``funcs`` is given.
    """
    given = funcs is not None
    funcs = funcs or model_functions(model, jacobian=jacobian, mode=mode)
    start = time.perf_counter() - (0.0 if given else funcs.compile_seconds)
    res = _minimize(funcs, funcs.x0.copy() if x0 is None else x0, **options)
    precision = _precision(funcs, res.x, model, group_dim, 1)
    return GaussianFit(res.x, precision, time.perf_counter() - start, bool(res.success), int(res.nit),
                       res.grad_norm, precision.floored, {"message": str(res.message)})  # fmt: skip


def dadvi(
    model: pm.Model,
    *,
    funcs: DadviFunctions | None = None,
    n_fixed_draws: int = 30,
    draws_seed: int = 0,
    mode: str | None = "auto",
    **options,
) -> GaussianFit:
    """DADVI: the mean-field Gaussian that minimises the KL objective averaged over ``n_fixed_draws`` fixed draws,
    found by trust-region Newton (pymc-extras' objective and optimiser, as ``fit_dadvi``). The objective's fixed draws
    come from ``draws_seed``: any fixed set defines the objective (DADVI's premise). The fit's ``seconds`` count the
    compilation unless ``funcs`` is given."""
    given = funcs is not None
    funcs = funcs or DadviFunctions(model, n_fixed_draws=n_fixed_draws, draws_seed=draws_seed, mode=mode)
    start = time.perf_counter() - (0.0 if given else funcs.compile_seconds)
    res = _minimize(funcs, funcs.x0.copy(), **options)
    mean, log_sd = np.split(res.x, 2)
    return GaussianFit(mean, DiagonalPrecision(np.exp(-2 * log_sd)), time.perf_counter() - start, bool(res.success),
                       int(res.nit), res.grad_norm, 0, {"message": str(res.message), "eta": res.x})  # fmt: skip


def lrvb(model: pm.Model, fit: GaussianFit, funcs: DadviFunctions, *, group_dim: str | None = None) -> GaussianFit:
    """DADVI's linear-response covariance: the means' block of the inverse Hessian of the DADVI objective over means
    and log sds, at DADVI's optimum ``fit`` (from :func:`dadvi` with the same ``funcs``)."""
    start = time.perf_counter()
    joint = _precision(funcs, fit.info["eta"], model, group_dim, 2)
    return GaussianFit(fit.mean, MarginalPrecision(joint, funcs.n), fit.seconds + time.perf_counter() - start,
                       fit.converged, fit.iterations, fit.grad_norm, joint.floored, dict(fit.info))  # fmt: skip


def dadvi_lrvb(
    model: pm.Model, *, group_dim: str | None = None, funcs: DadviFunctions | None = None, **kwargs
) -> tuple[GaussianFit, GaussianFit]:
    """DADVI and its linear-response correction (Giordano, Ingram and Broderick 2024): ``(dadvi, lrvb)``, both centred
    at DADVI's means, the first with mean-field's sds, the second with the linear-response covariance."""
    given = funcs is not None
    funcs = funcs or DadviFunctions(model, **{k: kwargs.pop(k) for k in ("n_fixed_draws", "draws_seed", "mode")
                                              if k in kwargs})  # fmt: skip
    mf = dadvi(model, funcs=funcs, **kwargs)
    mf.seconds += 0.0 if given else funcs.compile_seconds
    return mf, lrvb(model, mf, funcs, group_dim=group_dim)


class DiagonalPrecision:
    """A diagonal precision (mean-field)."""

    def __init__(self, precision_diag):
        self.p = np.asarray(precision_diag, dtype=float)
        self.n = self.p.size
        self.floored = 0

    def draw(self, n_draws, rng):
        z = rng.standard_normal((n_draws, self.n))
        logq = -0.5 * (z**2).sum(axis=1) + 0.5 * np.log(self.p).sum() - 0.5 * self.n * np.log(2 * np.pi)
        return z / np.sqrt(self.p), logq

    def marginal_sd(self):
        return 1 / np.sqrt(self.p)


class MarginalPrecision:
    """The Gaussian of the first ``n`` coordinates of a joint Gaussian given by its precision (LRVB: the means)."""

    def __init__(self, joint, n: int):
        self.joint, self.n = joint, n
        self.floored = joint.floored

    def draw(self, n_draws, rng):
        x, _ = self.joint.draw(n_draws, rng)
        x = x[:, : self.n]
        return x, self._logpdf(x)

    def _logpdf(self, x):
        if isinstance(self.joint, DensePrecision):
            cov = self.joint.covariance()[: self.n, : self.n]
            chol = np.linalg.cholesky((cov + cov.T) / 2)
            from scipy.linalg import solve_triangular

            z = solve_triangular(chol, x.T, lower=True).T
            return -0.5 * (z**2).sum(axis=1) - np.log(np.diag(chol)).sum() - 0.5 * self.n * np.log(2 * np.pi)
        return np.full(len(x), np.nan)  # not needed at scale (no k-hat there)

    def marginal_sd(self):
        return self.joint.marginal_sd()[: self.n]
