"""PyTorch twin of `crates/s2h-vlm/examples/train_step_bench.rs` for the `small` and
`quickstart` presets.

Same shapes and layer structure (ViT + ConvNeXt concatenated, 2-layer MLP projector, Llama-style
decoder with RoPE, GQA and SwiGLU); forward + masked LM loss + backward + AdamW, tokens/s.

    python3 scripts/bench_vlm_torch.py [batch] [seq] [steps] [threads] [preset] [image|text]
    # defaults: 4 256 5 2 small image; the quickstart's Text model: 8 206 20 1 quickstart text

On a GPU: S2H_TORCH_DEVICE=cuda (S2H_TORCH_DTYPE=bf16 for bf16 autocast, f32 otherwise).
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # decoder: vocab, width, layers, heads, kv heads, SwiGLU width; ViT: image, patch, width,
    # layers, heads; ConvNeXt widths and depths (none: no ConvNeXt)
    "small": ((1024, 384, 8, 6, 2, 1024), (128, 16, 192, 4, 4), ([32, 64, 128], [1, 1, 2])),
    "quickstart": ((1024, 128, 3, 4, 4, 344), (96, 12, 96, 2, 4), None),
    "base": ((1024, 768, 12, 12, 4, 2048), (224, 16, 384, 8, 6), ([64, 128, 256], [2, 2, 6])),
}
DEVICE = torch.device(__import__("os").environ.get("S2H_TORCH_DEVICE", "cpu"))
BF16 = __import__("os").environ.get("S2H_TORCH_DTYPE", "f32") == "bf16"
PRESET = sys.argv[5] if len(sys.argv) > 5 else "small"
(V, D, LAYERS, HEADS, KV, FF), (IMG, PATCH, VIT_D, VIT_L, VIT_H), CNN = PRESETS[PRESET]
CNN_DIMS, CNN_DEPTHS = CNN if CNN else ([0], [])
STEM, K = 4, 7
IMAGE_ID = 4


class Attn(nn.Module):
    def __init__(self, d, h, kv, bias):
        super().__init__()
        self.h, self.kv, self.hd = h, kv, d // h
        self.q = nn.Linear(d, h * self.hd, bias=bias)
        self.k = nn.Linear(d, kv * self.hd, bias=bias)
        self.v = nn.Linear(d, kv * self.hd, bias=bias)
        self.o = nn.Linear(h * self.hd, d, bias=bias)

    def forward(self, x, rope=None, causal=False):
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            rot = lambda y: torch.cat([-y[..., self.hd // 2:], y[..., : self.hd // 2]], -1)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        rep = self.h // self.kv
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        s = q @ k.transpose(2, 3) / math.sqrt(self.hd)
        if causal:
            s = s.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool, device=s.device), 1),
                              float("-inf"))
        return self.o((s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1))


class VitBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(VIT_D), nn.LayerNorm(VIT_D)
        self.attn = Attn(VIT_D, VIT_H, VIT_H, True)
        self.fc1, self.fc2 = nn.Linear(VIT_D, 4 * VIT_D), nn.Linear(4 * VIT_D, VIT_D)

    def forward(self, x):
        x = x + self.attn(self.n1(x))
        return x + self.fc2(F.gelu(self.fc1(self.n2(x))))


class Vit(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, VIT_D, PATCH, PATCH)
        self.pos = nn.Parameter(torch.randn(1, (IMG // PATCH) ** 2, VIT_D) * 0.02)
        self.blocks = nn.ModuleList(VitBlock() for _ in range(VIT_L))
        self.norm = nn.LayerNorm(VIT_D)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class CnnBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.dw = nn.Conv2d(d, d, K, padding=K // 2, groups=d)
        self.norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.gamma = nn.Parameter(torch.full((d,), 0.1))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNext(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, CNN_DIMS[0], STEM, STEM)
        self.stem_norm = nn.LayerNorm(CNN_DIMS[0])
        self.stages = nn.ModuleList()
        for i, (d, n) in enumerate(zip(CNN_DIMS, CNN_DEPTHS)):
            down = None if i == 0 else nn.ModuleList([nn.LayerNorm(CNN_DIMS[i - 1]), nn.Conv2d(CNN_DIMS[i - 1], d, 2, 2)])
            self.stages.append(nn.ModuleList([down if down is not None else nn.Identity(), nn.ModuleList(CnnBlock(d) for _ in range(n))]))
        self.norm = nn.LayerNorm(CNN_DIMS[-1])

    def forward(self, x):
        cn = lambda norm, y: norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = cn(self.stem_norm, self.stem(x))
        for down, blocks in self.stages:
            if isinstance(down, nn.ModuleList):
                x = down[1](cn(down[0], x))
            for blk in blocks:
                x = blk(x)
        return self.norm(x.flatten(2).transpose(1, 2))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(D, eps=1e-5), nn.RMSNorm(D, eps=1e-5)
        self.attn = Attn(D, HEADS, KV, False)
        self.gate, self.up = nn.Linear(D, FF, bias=False), nn.Linear(D, FF, bias=False)
        self.down = nn.Linear(FF, D, bias=False)

    def forward(self, x, rope):
        x = x + self.attn(self.n1(x), rope, causal=True)
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Vlm(nn.Module):
    def __init__(self):
        super().__init__()
        self.vit, self.cnn = Vit(), (ConvNext() if CNN else None)
        self.p1, self.p2 = nn.Linear(VIT_D + (CNN_DIMS[-1] if CNN else 0), D), nn.Linear(D, D)
        self.embed = nn.Embedding(V, D)
        # The quickstart's decoder adds learned absolute positions to RoPE (s2h's
        # `DecoderConfig::absolute_positions`).
        self.pos = nn.Embedding(512, D) if PRESET == "quickstart" else None
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.norm = nn.RMSNorm(D, eps=1e-5)
        self.head = nn.Linear(D, V, bias=False)

    def forward(self, ids, images):
        x = self.embed(ids)
        if images is not None:
            towers = [self.vit(images)] + ([self.cnn(images)] if self.cnn else [])
            feats = self.p2(F.gelu(self.p1(torch.cat(towers, -1))))
            is_img = ids == IMAGE_ID
            idx = (is_img.long().cumsum(1) - 1).clamp(0, feats.shape[1] - 1)
            x = torch.where(is_img[..., None], feats.gather(1, idx[..., None].expand(-1, -1, D)), x)
        t, hd = ids.shape[1], D // HEADS
        if self.pos is not None:
            x = x + self.pos(torch.arange(t, device=x.device))[None]
        inv = 10000.0 ** (-torch.arange(0, hd // 2).float() * 2 / hd)
        ang = torch.arange(t).float()[:, None] * inv[None]
        rope = (torch.cat([ang.cos(), ang.cos()], -1).to(x.device),
                torch.cat([ang.sin(), ang.sin()], -1).to(x.device))
        for layer in self.layers:
            x = layer(x, rope)
        return self.head(self.norm(x))


def main():
    args = [int(a) for a in sys.argv[1:5]]
    b, t, steps, threads = (args + [4, 256, 5, 2][len(args):])[:4]
    with_images = (sys.argv[6] if len(sys.argv) > 6 else "image") == "image"
    torch.set_num_threads(threads)
    model = Vlm().to(DEVICE)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    n_img = (IMG // PATCH) ** 2 if with_images else 0
    ids = 7 + (torch.arange(b * t) * 31) % (V - 7)
    ids = ids.view(b, t)
    ids[:, 2 : 2 + n_img] = IMAGE_ID
    ids = ids.to(DEVICE)
    images = (torch.rand(b, 3, IMG, IMG) * 2 - 1).to(DEVICE) if with_images else None
    mask = torch.ones(b, t, device=DEVICE)
    print(f"{sum(p.numel() for p in model.parameters())} params ({PRESET}), batch {b}, seq {t} "
          f"({n_img} image tokens), {threads} threads, {DEVICE}{' bf16' if BF16 else ''}")
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=BF16):
            logits = model(ids, images)
        logp = logits.float()[:, :-1].log_softmax(-1).gather(2, ids[:, 1:, None])[..., 0]
        m = mask[:, 1:]
        loss = -(logp * m).sum() / m.sum().clamp_min(1)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    mean = sum(times[1:]) / steps
    print(f"forward+backward+AdamW: {mean:.3f} s/step, {b * t / mean:.0f} tokens/s")


if __name__ == "__main__":
    main()
