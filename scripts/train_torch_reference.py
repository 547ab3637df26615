"""PyTorch twin of an s2h Text training run, to tell a recipe problem from an implementation one.

Trains the same decoder (Llama-style: RMSNorm, RoPE, SwiGLU, untied head; PyTorch's default
initialisation, as Burn's) on the same records, tokenized by the run's own `tokenizer.json` the
way `s2h_train::Processor::encode` does (`<s> <|user|> prompt <|assistant|>`, each target
segment on its own, `</s>`; loss on every segment and the end token), with the same recipe
(AdamW without weight decay, linear warmup then cosine to 0, plain shuffled batches, the loss a
mean over the batch's target tokens). At each `--eval-every` it decodes the evaluation records
greedily and prints the CTR step-value accuracy and answer exact match, as s2h's report does.

    python3 scripts/train_torch_reference.py --run RUN_DIR --eval EVAL_SET_DIR \
        [--steps 3200] [--batch 8] [--lr 3e-3] [--warmup 0.03] [--threads 1] [--seed 0] \
        [--layers 3] [--width 128] [--heads 4] [--ff 344] [--eval-every 800] [--init DIR] \
        [--positions rope|learned|both]

`RUN_DIR` is an s2h run directory (`tokenizer.json`, `data/*/records.jsonl`); `EVAL_SET_DIR` an
evaluation set written by `generate eval-set` (its `records.jsonl`). With `--init DIR` (an s2h
model directory of the same shape) training starts from those weights instead of a fresh draw;
with `--init DIR --steps 0` it only evaluates that model (a check of this script against s2h's
own evaluation of it).
`--positions`: RoPE alone (Llama's), learned absolute positions alone (GPT-2's), or both (s2h's
`DecoderConfig::absolute_positions`, the quickstart's model). Needs torch and tokenizers (scripts/fixtures/requirements.txt). Never run by CI.
"""
import argparse
import glob
import json
import math
import os
import random
import re
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from tokenizers import Tokenizer

BOS, EOS, USER, ASSISTANT = 1, 2, 5, 6
TARGETS = {"convert_prompt", "converted_text", "cot", "answer"}
STEP = re.compile(r"Step (\d+): row (\d+) \(([^)]*)\), column (\d+) \(([^)]*)\): (\w+) \((\d+)\)")


def encode(tok, record):
    ids = [BOS, USER] + tok.encode(record["prompt"], add_special_tokens=False).ids + [ASSISTANT]
    mask = [0] * len(ids)
    for seg in record["segments"]:
        seg_ids = tok.encode(seg["text"], add_special_tokens=False).ids
        ids += seg_ids
        mask += [int(seg["kind"] in TARGETS)] * len(seg_ids)
    ids.append(EOS)
    mask.append(int(record["segments"][-1]["kind"] in TARGETS))
    return ids, mask


class Attn(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.hd = h, d // h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x, cos, sin, bias):
        b, t, _ = x.shape
        q, k, v = (m(x).view(b, t, self.h, self.hd).transpose(1, 2) for m in (self.q, self.k, self.v))
        rot = lambda y: torch.cat([-y[..., self.hd // 2:], y[..., : self.hd // 2]], -1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        s = q @ k.transpose(2, 3) / math.sqrt(self.hd) + bias
        return self.o((s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1))


class Layer(nn.Module):
    def __init__(self, d, h, ff):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(d, eps=1e-5), nn.RMSNorm(d, eps=1e-5)
        self.attn = Attn(d, h)
        self.gate, self.up = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)

    def forward(self, x, cos, sin, bias):
        x = x + self.attn(self.n1(x), cos, sin, bias)
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    def __init__(self, vocab, d, layers, h, ff, positions="rope", max_len=512):
        super().__init__()
        self.h, self.rope = h, positions in ("rope", "both")
        self.embed = nn.Embedding(vocab, d)
        # `learned`: absolute position embeddings added to the tokens (GPT-2's), no rotation;
        # `both`: those and RoPE.
        self.pos = nn.Embedding(max_len, d) if positions in ("learned", "both") else None
        self.layers = nn.ModuleList(Layer(d, h, ff) for _ in range(layers))
        self.norm = nn.RMSNorm(d, eps=1e-5)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids, pad):
        b, t = ids.shape
        hd = self.embed.weight.shape[1] // self.h
        inv = 10000.0 ** (-torch.arange(0, hd // 2).float() * 2 / hd)
        ang = torch.arange(t).float()[:, None] * inv[None]
        cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
        if not self.rope:
            cos, sin = torch.ones_like(cos), torch.zeros_like(sin)
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        bias = torch.zeros(b, 1, t, t).masked_fill(causal | pad[:, None, None, :], float("-inf"))
        x = self.embed(ids)
        if self.pos is not None:
            x = x + self.pos(torch.arange(t))[None]
        for layer in self.layers:
            x = layer(x, cos, sin, bias)
        return self.head(self.norm(x))

    def load_s2h(self, path):
        """Weights from an s2h model directory (its decoder's tensor names)."""
        from safetensors.torch import load_file

        w = load_file(os.path.join(path, "model.safetensors"))
        dec = "decoder."
        pick = lambda name: w[dec + name]
        self.embed.weight.data.copy_(pick("embed_tokens.weight"))
        if self.pos is not None:
            self.pos.weight.data.copy_(pick("embed_positions.weight"))
        self.norm.weight.data.copy_(pick("norm.gamma"))
        # Burn stores a Linear's weight as [in, out]; PyTorch as [out, in].
        self.head.weight.data.copy_(pick("lm_head.weight").T)
        for i, layer in enumerate(self.layers):
            p = f"layers.{i}."
            layer.n1.weight.data.copy_(pick(p + "input_norm.gamma"))
            layer.n2.weight.data.copy_(pick(p + "post_attn_norm.gamma"))
            for name, m in [("q_proj", layer.attn.q), ("k_proj", layer.attn.k),
                            ("v_proj", layer.attn.v), ("o_proj", layer.attn.o)]:
                m.weight.data.copy_(pick(f"{p}attn.{name}.weight").T)
            for name, m in [("gate_proj", layer.gate), ("up_proj", layer.up), ("down_proj", layer.down)]:
                m.weight.data.copy_(pick(f"{p}mlp.{name}.weight").T)


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * step / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


@torch.no_grad()
def evaluate(model, tok, records, max_new=160):
    model.eval()
    right = steps = exact = 0
    for rec in records:
        ids = [BOS, USER] + tok.encode(rec["prompt"], add_special_tokens=False).ids + [ASSISTANT]
        start = len(ids)
        for _ in range(max_new):
            x = torch.tensor([ids])
            nxt = int(model(x, torch.zeros_like(x, dtype=torch.bool))[0, -1].argmax())
            if nxt == EOS:
                break
            ids.append(nxt)
        text = tok.decode(ids[start:], skip_special_tokens=False)
        gold = rec["answer"]["values"]
        got = [int(m.group(7)) for m in STEP.finditer(text)]
        steps += len(gold)
        right += sum(1 for g, p in zip(gold, got) if g == p)
        answer = re.search(r"Answer: ([0-9, ]+) \(sum (\d+)\)", text)
        exact += bool(answer) and [int(v) for v in answer.group(1).split(", ")] == gold \
            and int(answer.group(2)) == rec["answer"]["sum"]
    model.train()
    return 100.0 * right / max(steps, 1), 100.0 * exact / max(len(records), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--steps", type=int, default=3200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=float, default=0.03)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=344)
    ap.add_argument("--eval-every", type=int, default=800)
    ap.add_argument("--init")
    ap.add_argument("--positions", choices=["rope", "learned", "both"], default="rope")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    tok = Tokenizer.from_file(os.path.join(a.run, "tokenizer.json"))
    train = [json.loads(line) for f in sorted(glob.glob(os.path.join(a.run, "data", "*", "records.jsonl")))
             for line in open(f)]
    evals = [json.loads(line) for line in open(os.path.join(a.eval, "records.jsonl"))]
    encoded = [encode(tok, r) for r in train]
    model = Decoder(tok.get_vocab_size(), a.width, a.layers, a.heads, a.ff, a.positions)
    if a.init:
        model.load_s2h(a.init)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{len(train)} records, {n_params} parameters, vocabulary {tok.get_vocab_size()}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    warmup = min(math.ceil(a.warmup * a.steps), a.steps)
    if a.steps == 0:
        value, exact = evaluate(model, tok, evals)
        print(f"step value {value:.1f}%, exact match {exact:.1f}%", flush=True)
    order, pos, t0 = [], 0, time.time()
    for step in range(a.steps):
        if pos + a.batch > len(order):
            order, pos = random.sample(range(len(encoded)), len(encoded)), 0
        rows = [encoded[i] for i in order[pos: pos + a.batch]]
        pos += a.batch
        t = max(len(ids) for ids, _ in rows)
        ids = torch.tensor([r[0] + [0] * (t - len(r[0])) for r in rows])
        mask = torch.tensor([r[1] + [0] * (t - len(r[1])) for r in rows], dtype=torch.float32)
        pad = torch.tensor([[0] * len(r[0]) + [1] * (t - len(r[0])) for r in rows], dtype=torch.bool)
        logits = model(ids, pad)
        logp = logits[:, :-1].log_softmax(-1).gather(2, ids[:, 1:, None])[..., 0]
        m = mask[:, 1:]
        loss = -(logp * m).sum() / m.sum().clamp_min(1)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.steps, a.lr, warmup)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if done % 100 == 0:
            print(f"update {done}: loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
        if done % a.eval_every == 0 or done == a.steps:
            value, exact = evaluate(model, tok, evals)
            print(f"update {done}: step value {value:.1f}%, exact match {exact:.1f}%", flush=True)


if __name__ == "__main__":
    main()
