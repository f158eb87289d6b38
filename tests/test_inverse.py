"""course_utils.inverse (notebook 04's operators and solvers) and the Gaussian model of gen_data
(notebook 01): adjoints by the dot-product test, solvers against direct solutions."""
import math

import torch

from course_utils.gen_data import fit_gaussian, reconstruct_gaussian, sample_gaussian
from course_utils.inverse import H, H_T, cg, grad, grad_T, tv_gradient, tv_objective


def _dot_gap(A, A_T, x, y):
    lhs, rhs = (A(x) * y).sum().item(), (x * A_T(y)).sum().item()
    return abs(lhs - rhs) / max(abs(lhs), abs(rhs))


def test_H_T_and_grad_T_are_adjoints():
    g = torch.Generator().manual_seed(0)
    lopsided = torch.tensor([0.05, 0.1, 0.5, 0.3, 0.05], dtype=torch.float64)
    for s in (2, 3):
        for off in (None, (0, s - 1)):
            x = torch.randn(2, 1, 6 * s, 5 * s, generator=g, dtype=torch.float64)
            y = torch.randn(2, 1, 6, 5, generator=g, dtype=torch.float64)
            assert _dot_gap(lambda v: H(v, lopsided, s, off), lambda v: H_T(v, lopsided, s, off), x, y) < 1e-12
    x = torch.randn(1, 1, 9, 11, generator=g, dtype=torch.float64)
    p = torch.randn(1, 2, 9, 11, generator=g, dtype=torch.float64)
    assert _dot_gap(grad, grad_T, x, p) < 1e-12


def test_cg_solves_spd_and_stops_at_once_on_zero():
    g = torch.Generator().manual_seed(1)
    Q, _ = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=torch.float64))
    M = Q @ torch.diag(torch.logspace(0, 2, 30, dtype=torch.float64)) @ Q.T
    b = torch.randn(30, generator=g, dtype=torch.float64)
    x, res = cg(lambda v: M @ v, b, iters=200, tol=1e-12)
    assert torch.allclose(x, torch.linalg.solve(M, b), rtol=1e-8, atol=1e-10)
    assert res[0] == b.norm().item() and res[-1] <= 1e-12 * res[0]
    x0, res0 = cg(lambda v: M @ v, torch.zeros(30, dtype=torch.float64))
    assert res0 == [0.0] and not x0.any()


def test_tv_gradient_is_the_gradient_of_tv_objective():
    gen = torch.Generator().manual_seed(2)
    k = torch.exp(-torch.arange(-3, 4, dtype=torch.float64) ** 2 / 4.5)
    k = k / k.sum()
    x = torch.rand(1, 1, 12, 9, generator=gen, dtype=torch.float64)
    y = torch.rand(1, 1, 4, 3, generator=gen, dtype=torch.float64)
    xr = x.clone().requires_grad_(True)
    want, = torch.autograd.grad(tv_objective(xr, y, 0.3, 0.05, k, 3, (0, 2)), xr)
    assert torch.allclose(tv_gradient(x, y, 0.3, 0.05, k, 3, (0, 2)), want, rtol=1e-9, atol=1e-12)


def test_gaussian_model_fits_samples_and_projects():
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(40, 6, generator=gen, dtype=torch.float64) @ torch.randn(6, 6, generator=gen, dtype=torch.float64)
    mu, E, lam = fit_gaussian(X)
    Sigma = (X - X.mean(0)).T @ (X - X.mean(0)) / len(X)
    assert torch.allclose(E @ torch.diag(lam) @ E.T, Sigma, atol=1e-10)
    assert bool((lam[:-1] >= lam[1:]).all())
    xs = sample_gaussian(mu, E, lam, 200_000, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(xs.mean(0), mu, atol=0.05 * math.sqrt(lam[0].item()))
    assert torch.allclose(torch.cov(xs.T, correction=0), Sigma, atol=0.02 * lam[0].item())
    assert torch.allclose(reconstruct_gaussian(X, mu, E, 6), X, atol=1e-10)
    assert torch.allclose(reconstruct_gaussian(X, mu, E, 0), mu.expand_as(X))
