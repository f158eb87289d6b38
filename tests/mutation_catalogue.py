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

__all__ = ["Mutation", "CATALOGUE"]


@dataclass(frozen=True)
class Mutation:
    exercise: str   # id of the exercise cell, e.g. "ex05-2"
    what: str       # the mistake, in a few words
    find: str       # exact text of the right answer, found exactly once in that cell
    replace: str    # the wrong answer put in its place


CATALOGUE: dict[str, list[Mutation]] = {}

# ---------------------------------------------------------------------------------------------
# 00-03
# ---------------------------------------------------------------------------------------------


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
    Mutation("ex04-2", "no early return when r_0 = 0 (0/0 gives NaN; stopped by a hidden test)",
             find="    if res[0] == 0:\n        return x, res\n", replace=""),
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
    Mutation("ex05-2", "one input channel hard-coded (stopped by a hidden test)",
             find="self.conv1 = nn.Conv2d(channels, n1, f1)",
             replace="self.conv1 = nn.Conv2d(1, n1, f1)"),
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
    Mutation("ex06-1", "one input channel hard-coded (stopped by a hidden test)",
             find="chans = [channels] + ", replace="chans = [1] + "),
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
    Mutation("ex06-2", "the largest value of the last parameter only (stopped by a hidden test)",
             find="largest = max(largest, p.grad.abs().max().item())", replace="largest = p.grad.abs().max().item()"),
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
    Mutation("ex07-1", "one input channel hard-coded (stopped by a hidden test)",
             find="nn.Conv2d(channels, d, 5, padding=2)", replace="nn.Conv2d(1, d, 5, padding=2)"),
    Mutation("ex07-2", "the new model is built for x3, not for the new scale",
             find="net = FSRCNN(scale)", replace="net = FSRCNN(3)"),
    Mutation("ex07-2", "nothing frozen",
             find="    for p in net.parameters():\n        p.requires_grad_(False)\n", replace=""),
    Mutation("ex07-2", "the deconvolution frozen too",
             find="    for p in net.deconv.parameters():\n        p.requires_grad_(True)\n", replace=""),
    Mutation("ex07-2", "the x3 model frozen instead of the new one",
             find="    for p in net.parameters():\n        p.requires_grad_(False)",
             replace="    for p in model_x3.parameters():\n        p.requires_grad_(False)"),
    Mutation("ex07-2", "the deconvolution weights not copied (a raw load_state_dict error)",
             find="net.load_state_dict(model_x3.state_dict())",
             replace="net.load_state_dict({k: v for k, v in model_x3.state_dict().items() if not k.startswith('deconv')})"),
]

# ---------------------------------------------------------------------------------------------
# 08-11
# ---------------------------------------------------------------------------------------------
