"""PyTorch twin of `examples/bench_decode.rs`: greedy decoding tokens/s with and without a KV
cache for the Llama-style decoder of a preset (random weights, text prompts, no end-token stop).

Same shapes and layer structure as s2h-vlm's decoder: RMSNorm, RoPE (rotate-half convention),
grouped-query attention, SwiGLU MLP, untied LM head. Each step takes the argmax of the last
position; with the cache only the new token is fed, without it the whole sequence is recomputed.

    python3 scripts/bench_decode_torch.py [--preset small] [--batch 1,16] [--prompt-len 64]
        [--new-tokens 32] [--threads 2] [--cache-only]
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# (vocab, d_model, layers, heads, kv_heads, d_ff) as in crates/s2h-vlm/src/config.rs.
PRESETS = {
    "tiny": (1024, 128, 2, 4, 2, 344),
    "small": (1024, 384, 8, 6, 2, 1024),
    "base": (1024, 768, 12, 12, 4, 2048),
}
THETA, EPS = 10000.0, 1e-5


def rope_tables(head_dim, positions):
    inv = THETA ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = positions.to(torch.float64)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], -1)
    return ang.cos().float(), ang.sin().float()


class Layer(nn.Module):
    def __init__(self, d, h, kv, ff):
        super().__init__()
        self.h, self.kv, self.hd = h, kv, d // h
        self.n1, self.n2 = nn.RMSNorm(d, eps=EPS), nn.RMSNorm(d, eps=EPS)
        self.q = nn.Linear(d, h * self.hd, bias=False)
        self.k = nn.Linear(d, kv * self.hd, bias=False)
        self.v = nn.Linear(d, kv * self.hd, bias=False)
        self.o = nn.Linear(h * self.hd, d, bias=False)
        self.gate = nn.Linear(d, ff, bias=False)
        self.up = nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)

    def forward(self, x, cos, sin, cache, past):
        b, t, _ = x.shape
        y = self.n1(x)
        q = self.q(y).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k(y).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v(y).view(b, t, self.kv, self.hd).transpose(1, 2)
        rot = lambda z: torch.cat([-z[..., self.hd // 2:], z[..., : self.hd // 2]], -1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        if cache is not None:
            if cache:
                k = torch.cat([cache[0], k], 2)
                v = torch.cat([cache[1], v], 2)
            cache[:] = [k, v]
        rep = self.h // self.kv
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        s = q @ k.transpose(2, 3) / math.sqrt(self.hd)
        if t > 1:
            total = past + t
            mask = torch.arange(total)[None, :] > (past + torch.arange(t))[:, None]
            s = s.masked_fill(mask, float("-inf"))
        x = x + self.o((s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1))
        y = self.n2(x)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


class Decoder(nn.Module):
    def __init__(self, vocab, d, layers, h, kv, ff):
        super().__init__()
        self.hd = d // h
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(Layer(d, h, kv, ff) for _ in range(layers))
        self.norm = nn.RMSNorm(d, eps=EPS)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids, caches=None, past=0):
        t = ids.shape[1]
        cos, sin = rope_tables(self.hd, torch.arange(past, past + t))
        x = self.embed(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i], past)
        return self.head(self.norm(x))


@torch.inference_mode()
def greedy(model, prompts, new_tokens, use_cache):
    seq = prompts
    if use_cache:
        caches = [[] for _ in model.layers]
        logits = model(seq, caches, 0)
        past = seq.shape[1]
    else:
        logits = model(seq)
    out = []
    for step in range(new_tokens):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
        if step + 1 == new_tokens:
            break
        if use_cache:
            logits = model(nxt, caches, past)
            past += 1
        else:
            seq = torch.cat([seq, nxt], 1)
            logits = model(seq)
    return torch.cat(out, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("--batch", default="1,16")
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vocab, d, layers, h, kv, ff = PRESETS[args.preset]
    model = Decoder(vocab, d, layers, h, kv, ff).eval()
    print(
        f"torch {torch.__version__}, {args.threads} threads; preset {args.preset} (d_model {d}, "
        f"layers {layers}, heads {h}/{kv} kv, d_ff {ff}, vocab {vocab}), prompt "
        f"{args.prompt_len} tokens, {args.new_tokens} new tokens"
    )
    for batch in [int(b) for b in args.batch.split(",")]:
        prompts = torch.tensor(
            [[7 + (i * 31 + r * 17) % (vocab - 7) for i in range(args.prompt_len)] for r in range(batch)]
        )
        rates = []
        for use_cache in [True] if args.cache_only else [True, False]:
            greedy(model, prompts, 4, use_cache)  # warm-up (allocator, kernels)
            start = time.perf_counter()
            out = greedy(model, prompts, args.new_tokens, use_cache)
            secs = time.perf_counter() - start
            rate = out.numel() / secs
            rates.append(rate)
            name = "cache" if use_cache else "no-cache"
            print(f"batch {batch:>3}  {name:<8}  {out.numel():>5} tokens in {secs:>7.2f} s  {rate:>9.1f} tokens/s")
        if len(rates) == 2:
            print(f"batch {batch:>3}  cache/no-cache speed-up {rates[0] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
