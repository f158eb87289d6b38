"""The mutation catalogue: plausible wrong answers to every exercise of the course.

Each entry rewrites the answer of one exercise cell (``exNN-k``) of a solution notebook: the text
``find`` (it must occur exactly once in that cell) becomes ``replace``. ``tests/test_mutations.py``
runs each notebook once in one kernel; at every exercise it runs each wrong answer, then the
exercise's check cell (``checkNN-k``), and requires the check to stop it with the course's
``CheckFailed`` (not another error, not a pass); then it restores the right answer.

A new notebook adds its own section: at least two wrong answers per exercise, each one a mistake a
student would plausibly make (a missing activation, a skipped layer, wrong padding, swapped indices,
a wrong sign or normalisation, an off-by-one), with a few words on what it is.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Mutation", "CATALOGUE", "HIDDEN_CATALOGUE"]


@dataclass(frozen=True)
class Mutation:
    exercise: str   # id of the exercise cell, e.g. "ex05-2"
    what: str       # the mistake, in a few words
    find: str       # exact text of the right answer, found exactly once in that cell
    replace: str    # the wrong answer put in its place


CATALOGUE: dict[str, list[Mutation]] = {}

# Wrong answers that the visible check lets through (they break the exercise's statement only on other
# inputs: other sizes, dtypes, arguments) and the check cell's hidden tests must stop: evidence that the
# hidden tests are stricter than the visible check. Optional; same format.
HIDDEN_CATALOGUE: dict[str, list[Mutation]] = {}

# ---------------------------------------------------------------------------------------------
# 00-03
# ---------------------------------------------------------------------------------------------

CATALOGUE["00_welcome"] = [
    Mutation("ex00-1", "squared error summed, not averaged",
             find="torch.mean((y.double() - x.double()) ** 2)", replace="torch.sum((y.double() - x.double()) ** 2)"),
    Mutation("ex00-1", "peak value not squared",
             find="data_range**2 / mse", replace="data_range / mse"),
    Mutation("ex00-1", "natural log instead of log10",
             find="10 * np.log10(", replace="10 * np.log("),
    Mutation("ex00-1", "20 log10(L / MSE): the 8-bit formula's 20 without the square root",
             find="10 * np.log10(data_range**2 / mse)", replace="20 * np.log10(data_range / mse)"),
    Mutation("ex00-1", "no special case for identical images (division by zero)",
             find="    if mse == 0:\n        return float(\"inf\")\n", replace=""),
]


CATALOGUE["01_gaussian_generation"] = [
    Mutation("ex01-1", "SVD of the uncentred data",
             find="Xc = X - mu", replace="Xc = X"),
    Mutation("ex01-1", "1/(N-1) normalisation instead of the lecture's 1/N",
             find="lam = s**2 / X.shape[0]", replace="lam = s**2 / (X.shape[0] - 1)"),
    Mutation("ex01-1", "eigenvalues s / N (singular values not squared)",
             find="lam = s**2 / X.shape[0]", replace="lam = s / X.shape[0]"),
    Mutation("ex01-1", "eigenvectors taken as the rows of Vh",
             find="E = Vh.T ", replace="E = Vh "),
    Mutation("ex01-1", "mean over the pixels instead of over the images",
             find="mu = X.mean(0)", replace="mu = X.mean(1, keepdim=True)"),
    Mutation("ex01-1", "full SVD (full_matrices=True): n columns instead of r",
             find="torch.linalg.svd(Xc, full_matrices=False)", replace="torch.linalg.svd(Xc)"),
    Mutation("ex01-2", "samples clipped to [0, 1]",
             find="return mu + (z * lam[:k].clamp(min=0).sqrt()) @ E[:, :k].T",
             replace="return (mu + (z * lam[:k].clamp(min=0).sqrt()) @ E[:, :k].T).clamp(0, 1)"),
    Mutation("ex01-2", "eigenvalues not square-rooted",
             find="lam[:k].clamp(min=0).sqrt()", replace="lam[:k].clamp(min=0)"),
    Mutation("ex01-2", "E^T instead of E (eigenvectors used as rows)",
             find="@ E[:, :k].T", replace="@ E[:k, :]"),
    Mutation("ex01-2", "mu not added",
             find="return mu + (z", replace="return (z"),
    Mutation("ex01-2", "k ignored (always all components)",
             find="k = E.shape[1] if k is None else k", replace="k = E.shape[1]"),
    Mutation("ex01-2", "uniform codes (torch.rand) instead of Gaussian",
             find="z = torch.randn(", replace="z = torch.rand("),
    Mutation("ex01-2", "the generator is not passed to torch.randn",
             find="generator=generator, ", replace=""),
    Mutation("ex01-3", "projection of the uncentred image",
             find="((X - mu) @ Ek)", replace="(X @ Ek)"),
    Mutation("ex01-3", "mu not added back",
             find="return mu + ((X - mu) @ Ek) @ Ek.T", replace="return ((X - mu) @ Ek) @ Ek.T"),
    Mutation("ex01-3", "off by one: k + 1 components",
             find="Ek = E[:, :k]", replace="Ek = E[:, :k + 1]"),
    Mutation("ex01-3", "the last k columns of E (eigh's ascending order)",
             find="Ek = E[:, :k]", replace="Ek = E[:, E.shape[1] - k:]"),
]

CATALOGUE["02_gans"] = [
    Mutation("ex02-1", "objective not negated (log D sign flipped)",
             find="return -(F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean())",
             replace="return F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean()"),
    Mutation("ex02-1", "labels swapped (real as 0, fake as 1)",
             find="F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean()",
             replace="F.logsigmoid(-a_real).mean() + F.logsigmoid(a_fake).mean()"),
    Mutation("ex02-1", "one mean over the concatenated real and fake terms",
             find="return -(F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean())",
             replace="return -torch.cat([F.logsigmoid(a_real), F.logsigmoid(-a_fake)]).mean()"),
    Mutation("ex02-1", "log(sigmoid(a)) instead of logsigmoid (underflows)",
             find="F.logsigmoid(a_real).mean()", replace="torch.log(torch.sigmoid(a_real)).mean()"),
    Mutation("ex02-1", "sum over the real logits instead of the mean",
             find="F.logsigmoid(a_real).mean()", replace="F.logsigmoid(a_real).sum()"),
    Mutation("ex02-2", "minimax loss (1) with a minus sign",
             find="return F.logsigmoid(-a_fake).mean()", replace="return -F.logsigmoid(-a_fake).mean()"),
    Mutation("ex02-2", "minimax loss (1) with log D instead of log(1 - D)",
             find="return F.logsigmoid(-a_fake).mean()", replace="return F.logsigmoid(a_fake).mean()"),
    Mutation("ex02-2", "non-saturating loss (2) not negated",
             find="return -F.logsigmoid(a_fake).mean()", replace="return F.logsigmoid(a_fake).mean()"),
    Mutation("ex02-2", "non-saturating loss (2) written as -log(1 - D)",
             find="return -F.logsigmoid(a_fake).mean()", replace="return -F.logsigmoid(-a_fake).mean()"),
    Mutation("ex02-2", "minimax loss (1) as log(1 - sigmoid(a)) (log(0) at large logits)",
             find="return F.logsigmoid(-a_fake).mean()", replace="return torch.log(1 - torch.sigmoid(a_fake)).mean()"),
    Mutation("ex02-3", "LeakyReLU in the generator",
             find="nn.BatchNorm2d(4 * ch), nn.ReLU(True),", replace="nn.BatchNorm2d(4 * ch), nn.LeakyReLU(0.2, True),"),
    Mutation("ex02-3", "sigmoid output instead of tanh",
             find="nn.Tanh())", replace="nn.Sigmoid())"),
    Mutation("ex02-3", "second BatchNorm skipped",
             find="nn.BatchNorm2d(2 * ch), nn.ReLU(True),", replace="nn.ReLU(True),"),
    Mutation("ex02-3", "ReLU before BatchNorm",
             find="nn.BatchNorm2d(2 * ch), nn.ReLU(True),", replace="nn.ReLU(True), nn.BatchNorm2d(2 * ch),"),
    Mutation("ex02-3", "padding 0 in the first stride-2 layer",
             find="nn.ConvTranspose2d(4 * ch, 2 * ch, 4, 2, 1, bias=False)",
             replace="nn.ConvTranspose2d(4 * ch, 2 * ch, 4, 2, 0, bias=False)"),
    Mutation("ex02-3", "first layer with bias",
             find="nn.ConvTranspose2d(nz, 4 * ch, 7, 1, 0, bias=False)", replace="nn.ConvTranspose2d(nz, 4 * ch, 7, 1, 0)"),
    Mutation("ex02-4", "fakes not detached in D's loss (D's backward runs through G)",
             find="D(fake.detach())", replace="D(fake)"),
    Mutation("ex02-4", "G trained with the minimax loss (1) instead of the non-saturating loss",
             find="loss_g = g_loss_nonsat(D(fake))", replace="loss_g = g_loss_minimax(D(fake))"),
    Mutation("ex02-4", "G's step before D's step",
             find="""    loss_d = d_loss(D(real), D(fake.detach()))      # D's step: no gradient into G
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = g_loss_nonsat(D(fake))                 # G's step, through the updated D
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
""",
             replace="""    loss_g = g_loss_nonsat(D(fake))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    loss_d = d_loss(D(real), D(fake.detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
"""),
    Mutation("ex02-4", "D's gradients not zeroed (G's backward leaves gradients in D's parameters)",
             find="    opt_d.zero_grad()\n", replace=""),
    Mutation("ex02-4", "fakes detached in G's loss too (no gradient reaches G)",
             find="loss_g = g_loss_nonsat(D(fake))", replace="loss_g = g_loss_nonsat(D(fake.detach()))"),
]

CATALOGUE["03_interpolation"] = [
    Mutation("ex03-1", "nearest on the closed interval -1/2 <= t <= 1/2",
             find="(t >= -0.5) & (t < 0.5)", replace="(t >= -0.5) & (t <= 0.5)"),
    Mutation("ex03-1", "nearest returns a bool mask",
             find="return ((t >= -0.5) & (t < 0.5)).to(t.dtype)", replace="return (t >= -0.5) & (t < 0.5)"),
    Mutation("ex03-1", "linear kernel not clamped at 0",
             find="return (1 - t.abs()).clamp(min=0)", replace="return 1 - t.abs()"),
    Mutation("ex03-1", "cubic's outer branch with t instead of |t|",
             find="far = a * at**3 - 5 * a * at**2 + 8 * a * at - 4 * a",
             replace="far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a"),
    Mutation("ex03-1", "cubic with a fixed a = -0.5",
             find="at = t.abs()\n", replace="at = t.abs()\n    a = -0.5\n"),
    Mutation("ex03-1", "cubic's outer branch with a sign error",
             find="- 5 * a * at**2", replace="+ 5 * a * at**2"),
    Mutation("ex03-2", "left mirror without repeating the edge (-1 -> 1, 'reflect')",
             find="torch.where(j < 0, -j - 1, j)", replace="torch.where(j < 0, -j, j)"),
    Mutation("ex03-2", "right mirror off by one (n -> n-2)",
             find="2 * n_in - 1 - j", replace="2 * n_in - 2 - j"),
    Mutation("ex03-2", "taps clamped to the edge (PyTorch's border) instead of mirrored",
             find="j = taps.long()", replace="j = taps.long().clamp(0, n_in - 1)"),
    Mutation("ex03-2", "output positions u_i = i / scale",
             find="u = (torch.arange(n_out, dtype=torch.float64) + 0.5) / scale - 0.5",
             replace="u = torch.arange(n_out, dtype=torch.float64) / scale"),
    Mutation("ex03-2", "mirrored taps overwrite instead of adding (scatter_)",
             find="Wm.scatter_add_(1, j, weights)", replace="Wm.scatter_(1, j, weights)"),
    Mutation("ex03-2", "taps off by one (floor(u) - r ... floor(u) + r - 1)",
             find="torch.arange(-radius + 1, radius + 1, dtype=torch.float64)",
             replace="torch.arange(-radius, radius, dtype=torch.float64)"),
    Mutation("ex03-3", "the height matrix used along the width",
             find='y = torch.einsum("pw,nchw->nchp", Ww, x)', replace='y = torch.einsum("pw,nchw->nchp", Wh, x)'),
    Mutation("ex03-3", "matrices left in float64",
             find="Ww = interp_matrix(w, scale, kernel, radius).to(x.dtype)",
             replace="Ww = interp_matrix(w, scale, kernel, radius)"),
    Mutation("ex03-3", "only the width pass",
             find='return torch.einsum("oh,nchw->ncow", Wh, y)', replace="return y"),
    Mutation("ex03-3", "output clamped to [0, 1]",
             find='return torch.einsum("oh,nchw->ncow", Wh, y)',
             replace='return torch.einsum("oh,nchw->ncow", Wh, y).clamp(0, 1)'),
    Mutation("ex03-3", "square image assumed (the width matrix built from h)",
             find="Ww = interp_matrix(w, scale, kernel, radius)", replace="Ww = interp_matrix(h, scale, kernel, radius)"),
]

HIDDEN_CATALOGUE["00_welcome"] = [
    Mutation("ex00-1", "returns a 0-dim tensor, not a Python float",
             find="return 10 * np.log10(data_range**2 / mse)",
             replace="return torch.tensor(10 * np.log10(data_range**2 / mse))"),
]
HIDDEN_CATALOGUE["01_gaussian_generation"] = [
    Mutation("ex01-2", "assumes a square E (k = n rows)",
             find="k = E.shape[1] if k is None else k", replace="k = E.shape[0] if k is None else k"),
]
HIDDEN_CATALOGUE["02_gans"] = [
    Mutation("ex02-1", "loss rebuilt as a new tensor (no gradient flows)",
             find="return -(F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean())",
             replace="return torch.tensor(-(F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean()).item())"),
    Mutation("ex02-3", "nz hard-coded as 64",
             find="nn.ConvTranspose2d(nz, 4 * ch, 7, 1, 0, bias=False)",
             replace="nn.ConvTranspose2d(64, 4 * ch, 7, 1, 0, bias=False)"),
]
HIDDEN_CATALOGUE["03_interpolation"] = [
    Mutation("ex03-1", "linear kernel always float64",
             find="return (1 - t.abs()).clamp(min=0)", replace="return (1 - t.double().abs()).clamp(min=0)"),
]

# ---------------------------------------------------------------------------------------------
# 04-07
# ---------------------------------------------------------------------------------------------

# 04 · Inverse problems
CATALOGUE["04_inverse_problems"] = [
    Mutation("ex04-1", "S^T copies each LR value over its block instead of filling zeros",
             find="x[..., oy::scale, ox::scale] = y ",
             replace="x = y.repeat_interleave(scale, -2).repeat_interleave(scale, -1) "),
    Mutation("ex04-1", "the offset argument is ignored",
             find="oy, ox = offset if offset is not None else (scale // 2, scale // 2)",
             replace="oy, ox = (scale // 2, scale // 2)"),
    Mutation("ex04-1", "B^T as the same correlation (kernel not flipped)",
             find="x = F.conv_transpose2d(x, g.view(1, 1, -1, 1).to(y.dtype), padding=(r, 0))",
             replace="x = F.conv2d(x, g.view(1, 1, -1, 1).to(y.dtype), padding=(r, 0))"),
    Mutation("ex04-1", "row and column offsets swapped",
             find="x[..., oy::scale, ox::scale] = y ", replace="x[..., ox::scale, oy::scale] = y "),
    Mutation("ex04-2", "beta inverted (r.r / r_new.r_new)",
             find="p = r + (rr_new / rr) * p", replace="p = r + (rr / rr_new) * p"),
    Mutation("ex04-2", "alpha with Ap.Ap in the denominator",
             find="alpha = rr / (p * Ap).sum()", replace="alpha = rr / (Ap * Ap).sum()"),
    Mutation("ex04-2", "squared residual norms recorded",
             find="res.append(rr_new.sqrt().item())", replace="res.append(rr_new.item())"),
    Mutation("ex04-2", "x0 ignored (always starts from zeros)",
             find="x = torch.zeros_like(b) if x0 is None else x0.clone()", replace="x = torch.zeros_like(b)"),
    Mutation("ex04-2", "absolute instead of relative stopping test",
             find="if res[-1] <= tol * res[0]:", replace="if res[-1] <= tol:"),
    Mutation("ex04-3", "the factor 2 of the data term is missing",
             find="return 2 * H_T(", replace="return H_T("),
    Mutation("ex04-3", "TV norm per direction instead of over the 2 directions",
             find="p = p / torch.sqrt((p**2).sum(1, keepdim=True) + eps**2)",
             replace="p = p / torch.sqrt(p**2 + eps**2)"),
    Mutation("ex04-3", "eps not squared", find="keepdim=True) + eps**2)", replace="keepdim=True) + eps)"),
    Mutation("ex04-3", "wrong sign of the TV term", find="+ tau * grad_T(p)", replace="- tau * grad_T(p)"),
    Mutation("ex04-3", "the offset is not passed to H and H_T",
             find="H_T(H(x, g, scale, offset) - y, g, scale, offset)", replace="H_T(H(x, g, scale) - y, g, scale)"),
]


# 05 · SRCNN
CATALOGUE["05_srcnn"] = [
    Mutation("ex05-1", "off by one: the last row and column of sub-images are dropped",
             find="for top in range(0, H - size + 1, stride):",
             replace="for top in range(0, H - size, stride):"),
    Mutation("ex05-1", "height and width swapped (crashes on a non-square image)",
             find="H, W = hr.shape[-2:]", replace="W, H = hr.shape[-2:]"),
    Mutation("ex05-1", "column by column instead of row by row",
             find="    for top in range(0, H - size + 1, stride):\n        for left in range(0, W - size + 1, stride):",
             replace="    for left in range(0, W - size + 1, stride):\n        for top in range(0, H - size + 1, stride):"),
    Mutation("ex05-1", "inputs and targets swapped",
             find="return torch.stack(inputs), torch.stack(targets)",
             replace="return torch.stack(targets), torch.stack(inputs)"),
    Mutation("ex05-2", "no ReLU after conv2",
             find="return self.conv3(F.relu(self.conv2(F.relu(self.conv1(ilr)))))",
             replace="return self.conv3(self.conv2(F.relu(self.conv1(ilr))))"),
    Mutation("ex05-2", "a ReLU after conv3 as well",
             find="return self.conv3(F.relu(self.conv2(F.relu(self.conv1(ilr)))))",
             replace="return F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(ilr))))))"),
    Mutation("ex05-2", "conv2 skipped in forward (a raw channel-mismatch error inside the check)",
             find="return self.conv3(F.relu(self.conv2(F.relu(self.conv1(ilr)))))",
             replace="return self.conv3(F.relu(self.conv1(ilr)))"),
    Mutation("ex05-2", "'same' padding instead of valid convolutions",
             find="self.conv1 = nn.Conv2d(channels, n1, f1)",
             replace="self.conv1 = nn.Conv2d(channels, n1, f1, padding=f1 // 2)"),
]


# 06 · VDSR
CATALOGUE["06_vdsr"] = [
    Mutation("ex06-1", "no ReLU at all", find="                h = F.relu(h)", replace="                pass"),
    Mutation("ex06-1", "no ReLU after the first convolution",
             find="if i < len(self.convs) - 1:", replace="if 0 < i < len(self.convs) - 1:"),
    Mutation("ex06-1", "a ReLU after the last convolution as well",
             find="if i < len(self.convs) - 1:", replace="if i < len(self.convs):"),
    Mutation("ex06-1", "the input is added even when residual=False",
             find="return ilr + h if self.residual else h", replace="return ilr + h"),
    Mutation("ex06-1", "no padding (a raw size-mismatch error in the residual sum)",
             find="nn.Conv2d(a, b, 3, padding=1)", replace="nn.Conv2d(a, b, 3)"),
    Mutation("ex06-1", "off by one: depth + 1 convolutions",
             find="[width] * (depth - 1)", replace="[width] * depth"),
    Mutation("ex06-2", "bound theta * lr instead of theta / lr",
             find="bound = theta / lr", replace="bound = theta * lr"),
    Mutation("ex06-2", "largest value measured after clipping",
             find="        largest = max(largest, p.grad.abs().max().item())\n        p.grad.clamp_(-bound, bound)",
             replace="        p.grad.clamp_(-bound, bound)\n        largest = max(largest, p.grad.abs().max().item())"),
    Mutation("ex06-2", "clamp result discarded (not in place)",
             find="p.grad.clamp_(-bound, bound)", replace="p.grad.clamp(-bound, bound)"),
    Mutation("ex06-2", "parameters without gradient not skipped (a raw AttributeError)",
             find="        if p.grad is None:\n            continue\n", replace=""),
    Mutation("ex06-2", "the norm is clipped instead of each component",
             find="p.grad.clamp_(-bound, bound)", replace="torch.nn.utils.clip_grad_norm_([p], bound)"),
]

# 07 · FSRCNN
CATALOGUE["07_fsrcnn"] = [
    Mutation("ex07-1", "the mapping layers are skipped in forward",
             find="self.deconv(self.expand(self.mapping(self.shrink(self.feature(lr)))))",
             replace="self.deconv(self.expand(self.shrink(self.feature(lr))))"),
    Mutation("ex07-1", "the shrinking layer is skipped in forward (a raw channel-mismatch error)",
             find="self.deconv(self.expand(self.mapping(self.shrink(self.feature(lr)))))",
             replace="self.deconv(self.expand(self.mapping(self.feature(lr))))"),
    Mutation("ex07-1", "one PReLU slope shared by all channels of the shrinking layer",
             find="nn.Sequential(nn.Conv2d(d, s, 1), nn.PReLU(s))",
             replace="nn.Sequential(nn.Conv2d(d, s, 1), nn.PReLU())"),
    Mutation("ex07-1", "ReLU instead of PReLU in the mapping layers",
             find="nn.PReLU(s))])", replace="nn.ReLU())])"),
    Mutation("ex07-1", "mapping convolutions without padding",
             find="nn.Conv2d(s, s, 3, padding=1)", replace="nn.Conv2d(s, s, 3)"),
    Mutation("ex07-1", "deconvolution padding 3 instead of 4",
             find="stride=scale, padding=4,", replace="stride=scale, padding=3,"),
    Mutation("ex07-1", "one mapping layer object repeated m times (shared weights)",
             find="*[layer for _ in range(m)\n                                       "
                  "for layer in (nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s))]",
             replace="*[nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)] * m"),
    Mutation("ex07-3", "the new model is built for x3, not for the new scale",
             find="net = FSRCNN(scale)", replace="net = FSRCNN(3)"),
    Mutation("ex07-3", "nothing frozen",
             find="    for p in net.parameters():\n        p.requires_grad_(False)\n", replace=""),
    Mutation("ex07-3", "the deconvolution frozen too",
             find="    for p in net.deconv.parameters():\n        p.requires_grad_(True)\n", replace=""),
    Mutation("ex07-3", "the x3 model frozen instead of the new one",
             find="    for p in net.parameters():\n        p.requires_grad_(False)",
             replace="    for p in model_x3.parameters():\n        p.requires_grad_(False)"),
    Mutation("ex07-3", "the deconvolution weights not copied (a raw load_state_dict error)",
             find="net.load_state_dict(model_x3.state_dict())",
             replace="net.load_state_dict({k: v for k, v in model_x3.state_dict().items() if not k.startswith('deconv')})"),
    Mutation("ex07-2", "the kernel not flipped (taps read forwards: s(m - R) instead of s(R - m))",
             find="u, v = s * (R - m) + r + p, s * (R - n) + q + p",
             replace="u, v = s * (m - R) + r + p, s * (n - R) + q + p"),
    Mutation("ex07-2", "the phases in the wrong channels for pixel_shuffle (column phase first)",
             find="weight[ch * s * s + r * s + q, :, m, n]", replace="weight[ch * s * s + q * s + r, :, m, n]"),
    Mutation("ex07-2", "the deconvolution's padding p forgotten in the tap offset",
             find="u, v = s * (R - m) + r + p, s * (R - n) + q + p",
             replace="u, v = s * (R - m) + r, s * (R - n) + q"),
    Mutation("ex07-2", "a kernel one tap too small on each side (radius R - 1)",
             find="conv = nn.Conv2d(d, s * s * c, 2 * R + 1, padding=R)",
             replace="R = R - 1\n    conv = nn.Conv2d(d, s * s * c, 2 * R + 1, padding=R)"),
    Mutation("ex07-2", "the bias left as the Conv2d's random initialisation",
             find="        conv.bias.copy_(deconv.bias.detach().repeat_interleave(s * s))\n", replace=""),
]

HIDDEN_CATALOGUE["04_inverse_problems"] = [
    Mutation("ex04-2", "no early return when r_0 = 0 (0/0 gives NaN; stopped by a hidden test)",
             find="    if res[0] == 0:\n        return x, res\n", replace=""),
]
HIDDEN_CATALOGUE["05_srcnn"] = [
    Mutation("ex05-2", "one input channel hard-coded (stopped by a hidden test)",
             find="self.conv1 = nn.Conv2d(channels, n1, f1)",
             replace="self.conv1 = nn.Conv2d(1, n1, f1)"),
]
HIDDEN_CATALOGUE["06_vdsr"] = [
    Mutation("ex06-1", "one input channel hard-coded (stopped by a hidden test)",
             find="chans = [channels] + ", replace="chans = [1] + "),
    Mutation("ex06-2", "the largest value of the last parameter only (stopped by a hidden test)",
             find="largest = max(largest, p.grad.abs().max().item())", replace="largest = p.grad.abs().max().item()"),
]
HIDDEN_CATALOGUE["07_fsrcnn"] = [
    Mutation("ex07-1", "one input channel hard-coded (stopped by a hidden test)",
             find="nn.Conv2d(channels, d, 5, padding=2)", replace="nn.Conv2d(1, d, 5, padding=2)"),
    Mutation("ex07-2", "the bias tiled (b_0, b_1, b_0, ...) instead of repeated per channel (stopped by a hidden test)",
             find="repeat_interleave(s * s)", replace="repeat(s * s)"),
]

# ---------------------------------------------------------------------------------------------
# 08-11
# ---------------------------------------------------------------------------------------------
# 09 · Gatys style transfer
CATALOGUE["09_gatys"] = [
    # 9.1 the Gram matrix
    Mutation("ex09-1", "no normalisation (the lecture's raw sum)",
             "return fm @ fm.transpose(1, 2) / (c * h * w)", "return fm @ fm.transpose(1, 2)"),
    Mutation("ex09-1", "divided by H*W only (a mean over pixels, not C*H*W)",
             "/ (c * h * w)", "/ (h * w)"),
    Mutation("ex09-1", "F^T F (pixels x pixels) instead of F F^T",
             "fm @ fm.transpose(1, 2)", "fm.transpose(1, 2) @ fm"),
    Mutation("ex09-1", "batch dimension forgotten (the lecture's view(C, W*H))",
             "fm = f.reshape(n, c, h * w)", "fm = f.reshape(c, h * w)"),
    Mutation("ex09-1", "centred features (a covariance matrix, as the lecture's word suggests)",
             "fm = f.reshape(n, c, h * w)",
             "fm = f.reshape(n, c, h * w)\n    fm = fm - fm.mean(dim=2, keepdim=True)"),
    # 9.2 Gatys' objective
    Mutation("ex09-2", "alpha and beta swapped",
             "return alpha * content + beta * style", "return beta * content + alpha * style"),
    Mutation("ex09-2", "only the last style layer kept (the sum overwritten)",
             "style = style + ((gram_matrix", "style = ((gram_matrix"),
    Mutation("ex09-2", "content term not normalised by ||VGG^l(y_c)||^2",
             "content = ((fx[layer] - fc[layer]) ** 2).sum() / (fc[layer] ** 2).sum()",
             "content = ((fx[layer] - fc[layer]) ** 2).sum()"),
    Mutation("ex09-2", "style terms not normalised by ||G^j(y_s)||_F^2",
             "** 2).sum() / (g_s ** 2).sum()", "** 2).sum()"),
    Mutation("ex09-2", "the style sum runs over the layers of fx (also the content layer)",
             "for name, g_s in grams_s.items():",
             "for name in fx:\n        g_s = grams_s[name]"),
    Mutation("ex09-2", "the content layer hard-coded to Gatys' relu4_2",
             "content = ((fx[layer] - fc[layer]) ** 2).sum() / (fc[layer] ** 2).sum()",
             "content = ((fx['relu4_2'] - fc['relu4_2']) ** 2).sum() / (fc['relu4_2'] ** 2).sum()"),
]
HIDDEN_CATALOGUE["09_gatys"] = [
    Mutation("ex09-1", "detached Gram matrix (no gradient reaches the pixels)",
             find="return fm @ fm.transpose(1, 2) / (c * h * w)",
             replace="return (fm @ fm.transpose(1, 2) / (c * h * w)).detach()"),
    Mutation("ex09-2", "detached loss (no gradient reaches the pixels)",
             find="return alpha * content + beta * style",
             replace="return (alpha * content + beta * style).detach()"),
]

# 11 · Pixel recursive super-resolution (PixelCNN)
CATALOGUE["11_pixelcnn_sr"] = [
    Mutation("ex11-1", "the whole centre row is open (future pixels right of the centre)",
             find="mask[c, :c] = 1", replace="mask[c, :] = 1"),
    Mutation("ex11-1", "mask A includes the centre (off by one in the centre row)",
             find="mask[c, :c] = 1", replace="mask[c, :c + 1] = 1"),
    Mutation("ex11-1", "masks A and B swapped",
             find='if kind == "B":', replace='if kind == "A":'),
    Mutation("ex11-1", "the row below is open too (rows above *and below* the centre)",
             find="mask[:c, :] = 1", replace="mask[:c, :] = 1\n    mask[c + 1:, :] = 1"),
    Mutation("ex11-1", "only the upper-left quadrant (rows above cut at the centre column)",
             find="mask[:c, :] = 1", replace="mask[:c, :c + 1] = 1"),
    Mutation("ex11-1", "mask transposed (columns before the centre instead of rows)",
             find="return mask", replace="return mask.T"),
    Mutation("ex11-2", "gate halves swapped: sigmoid(first) * tanh(second)",
             find="torch.tanh(a) * torch.sigmoid(b)", replace="torch.sigmoid(a) * torch.tanh(b)"),
    Mutation("ex11-2", "ReLU instead of tanh in the gate",
             find="torch.tanh(a) * torch.sigmoid(b)", replace="torch.relu(a) * torch.sigmoid(b)"),
    Mutation("ex11-2", "channels split along the width instead of dim=1",
             find="h.chunk(2, dim=1)", replace="h.chunk(2, dim=-1)"),
    Mutation("ex11-2", "shifted up instead of down",
             find="F.pad(v, (0, 0, 1, 0))[:, :, :-1, :]", replace="F.pad(v, (0, 0, 0, 1))[:, :, 1:, :]"),
    Mutation("ex11-2", "no shift (the vertical stack leaks the current row)",
             find="F.pad(v, (0, 0, 1, 0))[:, :, :-1, :]", replace="v"),
    Mutation("ex11-2", "shifted right (columns) instead of down",
             find="F.pad(v, (0, 0, 1, 0))[:, :, :-1, :]", replace="F.pad(v, (1, 0, 0, 0))[..., :-1]"),
    Mutation("ex11-2", "shifted two rows down",
             find="F.pad(v, (0, 0, 1, 0))[:, :, :-1, :]", replace="F.pad(v, (0, 0, 2, 0))[:, :, :-2, :]"),
    Mutation("ex11-3", "unbiased variance (Bessel's correction)",
             find="correction=0", replace="correction=1"),
    Mutation("ex11-3", "scale by gamma instead of 1 + gamma",
             find="* (1 + gamma)", replace="* gamma"),
    Mutation("ex11-3", "statistics per image (instance norm), not over the batch",
             find="mean(dim=(0, 2, 3), keepdim=True)\n    var = h.var(dim=(0, 2, 3)",
             replace="mean(dim=(2, 3), keepdim=True)\n    var = h.var(dim=(2, 3)"),
    Mutation("ex11-3", "statistics over the channels (layer norm), not per channel",
             find="mean(dim=(0, 2, 3), keepdim=True)\n    var = h.var(dim=(0, 2, 3)",
             replace="mean(dim=(1, 2, 3), keepdim=True)\n    var = h.var(dim=(1, 2, 3)"),
    Mutation("ex11-3", "divided by the variance, not the standard deviation",
             find="torch.sqrt(var + eps)", replace="(var + eps)"),
    Mutation("ex11-3", "shift added before the scale",
             find="* (1 + gamma) + beta", replace="* (1 + gamma + beta)"),
]

# ---------------------------------------------------------------------------------------------
# 08 · SRResNet and SRGAN
# ---------------------------------------------------------------------------------------------
CATALOGUE["08_srgan"] = [
    Mutation("ex08-1", "bn2 not applied: conv2 goes straight into the sum",
             find="return x + self.bn2(self.conv2(h))", replace="return x + self.conv2(h)"),
    Mutation("ex08-1", "PReLU after the sum instead of inside the branch",
             find="h = self.prelu(self.bn1(self.conv1(x)))\n        return x + self.bn2(self.conv2(h))",
             replace="h = self.bn1(self.conv1(x))\n        return self.prelu(x + self.bn2(self.conv2(h)))"),
    Mutation("ex08-1", "no skip connection",
             find="return x + self.bn2(self.conv2(h))", replace="return self.bn2(self.conv2(h))"),
    Mutation("ex08-1", "ReLU instead of PReLU (no learned slopes)",
             find="self.prelu = nn.PReLU(width)", replace="self.prelu = nn.ReLU()"),
    Mutation("ex08-1", "one PReLU slope shared by all channels",
             find="self.prelu = nn.PReLU(width)", replace="self.prelu = nn.PReLU()"),
    Mutation("ex08-1", "no padding in the first convolution (the sum's shapes differ)",
             find="self.conv1 = nn.Conv2d(width, width, 3, padding=1)",
             replace="self.conv1 = nn.Conv2d(width, width, 3)"),
    Mutation("ex08-1", "the second batch norm never built",
             find="        self.bn2 = nn.BatchNorm2d(width)\n", replace=""),
    Mutation("ex08-1", "PReLU before bn1",
             find="h = self.prelu(self.bn1(self.conv1(x)))", replace="h = self.bn1(self.prelu(self.conv1(x)))"),
    Mutation("ex08-2", "no activation after the shuffle",
             find="return self.prelu(F.pixel_shuffle(self.conv(x), 2))",
             replace="return F.pixel_shuffle(self.conv(x), 2)"),
    Mutation("ex08-2", "pixel shuffle before the convolution",
             find="return self.prelu(F.pixel_shuffle(self.conv(x), 2))",
             replace="return self.prelu(self.conv(F.pixel_shuffle(x, 2)))"),
    Mutation("ex08-2", "PReLU before the shuffle, on the 4 width channels",
             find="return self.prelu(F.pixel_shuffle(self.conv(x), 2))",
             replace="return F.pixel_shuffle(self.prelu(self.conv(x)), 2)"),
    Mutation("ex08-2", "convolution to 2 width channels (wrong channels for a x2 shuffle)",
             find="nn.Conv2d(width, 4 * width, 3, padding=1)", replace="nn.Conv2d(width, 2 * width, 3, padding=1)"),
    Mutation("ex08-2", "one shuffle by 4 instead of 2",
             find="F.pixel_shuffle(self.conv(x), 2)", replace="F.pixel_shuffle(self.conv(x), 4)"),
    Mutation("ex08-2", "ReLU instead of PReLU",
             find="return self.prelu(F.pixel_shuffle(", replace="return F.relu(F.pixel_shuffle("),
    Mutation("ex08-3", "features not divided by 12.75",
             find="((out - target) / SRGAN_RESCALE).pow(2).mean()", replace="(out - target).pow(2).mean()"),
    Mutation("ex08-3", "the squared error divided by 12.75 once",
             find="((out - target) / SRGAN_RESCALE).pow(2).mean()",
             replace="((out - target).pow(2) / SRGAN_RESCALE).mean()"),
    Mutation("ex08-3", "a sum instead of the mean",
             find=".pow(2).mean()", replace=".pow(2).sum()"),
    Mutation("ex08-3", "L1 instead of the squared difference",
             find=".pow(2).mean()", replace=".abs().mean()"),
    Mutation("ex08-3", "the target's features computed with autograd",
             find="    with torch.no_grad():\n        target = feats(hr, [layer])[layer]",
             replace="    target = feats(hr, [layer])[layer]"),
    Mutation("ex08-3", "the target always read at relu2_2",
             find="target = feats(hr, [layer])[layer]", replace='target = feats(hr, ["relu2_2"])["relu2_2"]'),
]


# 10 · Johnson et al.'s feed-forward style transfer
CATALOGUE["10_johnson"] = [
    # 10.1 the residual block with instance normalisation
    Mutation("ex10-1", "no skip connection (the residual alone)",
             "return x + self.in2(self.conv2(h))", "return self.in2(self.conv2(h))"),
    Mutation("ex10-1", "a ReLU after the sum (He et al.'s original block)",
             "return x + self.in2(self.conv2(h))", "return F.relu(x + self.in2(self.conv2(h)))"),
    Mutation("ex10-1", "no instance normalisation in the block",
             "h = F.relu(self.in1(self.conv1(x)))\n        return x + self.in2(self.conv2(h))",
             "h = F.relu(self.conv1(x))\n        return x + self.conv2(h)"),
    Mutation("ex10-1", "zero padding (padding_mode left at its default)",
             'padding=1, padding_mode="reflect")\n        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, '
             'padding_mode="reflect")',
             'padding=1)\n        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)'),
    Mutation("ex10-1", "batch normalisation instead of instance normalisation",
             "self.in1 = nn.InstanceNorm2d(channels, affine=True)\n        self.in2 = nn.InstanceNorm2d(channels, affine=True)",
             "self.in1 = nn.BatchNorm2d(channels)\n        self.in2 = nn.BatchNorm2d(channels)"),
    Mutation("ex10-1", "instance norm without affine=True (no learnt scale and shift)",
             "self.in1 = nn.InstanceNorm2d(channels, affine=True)\n        self.in2 = nn.InstanceNorm2d(channels, affine=True)",
             "self.in1 = nn.InstanceNorm2d(channels)\n        self.in2 = nn.InstanceNorm2d(channels)"),
    Mutation("ex10-1", "ReLU missing between the two convolutions",
             "h = F.relu(self.in1(self.conv1(x)))", "h = self.in1(self.conv1(x))"),
    # 10.2 the transformation network
    Mutation("ex10-2", "convolution before the resize (wrong upsampling order)",
             'h = F.interpolate(h, scale_factor=2, mode="nearest")\n        return conv(h)',
             'return F.interpolate(conv(h), scale_factor=2, mode="nearest")'),
    Mutation("ex10-2", "bilinear instead of nearest-neighbour resize",
             'mode="nearest"', 'mode="bilinear"'),
    Mutation("ex10-2", "no instance norm after the second strided convolution",
             "h = F.relu(self.in2(self.conv2(h)))", "h = F.relu(self.conv2(h))"),
    Mutation("ex10-2", "the residual blocks are never applied",
             "h = self.res(h)", "h = h  # (residual blocks forgotten)"),
    Mutation("ex10-2", "tanh output (values in [-1, 1])",
             "return torch.sigmoid(self.conv_out(h))", "return torch.tanh(self.conv_out(h))"),
    Mutation("ex10-2", "no output activation",
             "return torch.sigmoid(self.conv_out(h))", "return self.conv_out(h)"),
    Mutation("ex10-2", "second downsampling convolution without stride",
             "self.conv3 = nn.Conv2d(w2, w3, 3, stride=2, padding=1",
             "self.conv3 = nn.Conv2d(w2, w3, 3, padding=1"),
    Mutation("ex10-2", "transposed convolutions without output_padding (one pixel short)",
             "self.up1 = nn.ConvTranspose2d(w3, w2, 3, stride=2, padding=1, output_padding=1)\n"
             "            self.up2 = nn.ConvTranspose2d(w2, w1, 3, stride=2, padding=1, output_padding=1)",
             "self.up1 = nn.ConvTranspose2d(w3, w2, 3, stride=2, padding=1)\n"
             "            self.up2 = nn.ConvTranspose2d(w2, w1, 3, stride=2, padding=1)"),
    Mutation("ex10-2", "zero padding in the first 9x9 convolution",
             'self.conv1 = nn.Conv2d(3, w1, 9, padding=4, padding_mode="reflect")',
             "self.conv1 = nn.Conv2d(3, w1, 9, padding=4)"),
    Mutation("ex10-2", "the up-sampling convolutions swapped (up2 used first)",
             "h = F.relu(self.in4(self.up(self.up1, h)))\n        h = F.relu(self.in5(self.up(self.up2, h)))",
             "h = F.relu(self.in4(self.up(self.up2, h)))\n        h = F.relu(self.in5(self.up(self.up1, h)))"),
]
