#!/usr/bin/env python3
"""The MoE token exchange through torch.distributed's gloo backend, the
peer figure for weft-moe-bench (bench/moe_compare.sh runs both).

Each of --ranks processes routes --tokens tokens of --hidden floats to
--topk distinct experts drawn uniformly from --experts (expert e lives on
rank e // (experts / ranks), as in weft-moe-bench), and times on the
slowest rank (max over ranks per iteration), as weft's calls do it:
  dispatch  each token gathered once per destination rank, the rows
            grouped by destination; all_to_all_single of the counts,
            then of the rows;
  combine   (identity experts, untimed) all_to_all_single of the rows
            back, each weighted by the gates of its token's experts on
            that rank and summed into the token's output (checked).
Prints one line: 'gloo dispatch_p50_us D combine_p50_us C rows R'.
Needs python3-torch (Debian's 1.13 has gloo); exits 77 without it.
"""
import argparse
import os
import socket
import sys
import time

try:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
except ImportError:
    print("moe_gloo: python3-torch is not installed", file=sys.stderr)
    sys.exit(77)


def p50(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def inputs(args, rank):
    """This rank's tokens, their top-k experts (distinct, uniform) and
    gate weights."""
    g = torch.Generator().manual_seed(12345 + rank)
    scores = torch.rand(args.tokens, args.experts, generator=g)
    top = scores.topk(args.topk, dim=1)
    w = top.values / top.values.sum(1, keepdim=True)
    x = torch.rand(args.tokens, args.hidden, generator=g)
    return x, top.indices, w


def worker(rank, args, port, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    x, idx, w = inputs(args, rank)
    per = args.experts // args.ranks
    disp, comb = [], []
    for it in range(args.warmup + args.iters):
        dist.barrier()
        t0 = time.perf_counter()
        # dispatch: each token once per destination rank, grouped by it
        dest = torch.zeros(args.tokens, args.ranks, dtype=torch.bool)
        dest.scatter_(1, idx // per, True)
        counts = dest.sum(0)
        tok = torch.cat([dest[:, r].nonzero().flatten()
                         for r in range(args.ranks)])
        send = x.index_select(0, tok)
        got = torch.empty(args.ranks, dtype=torch.int64)
        dist.all_to_all_single(got, counts)
        recv = torch.empty(int(got.sum()), args.hidden)
        dist.all_to_all_single(recv, send, got.tolist(), counts.tolist())
        td = time.perf_counter() - t0
        # the experts (identity, untimed): each row goes back as it came
        dist.barrier()
        t0 = time.perf_counter()
        # combine: the rows back, each weighted by the gates of the
        # token's experts on that rank, summed into the token's output
        back = torch.empty_like(send)
        dist.all_to_all_single(back, recv, counts.tolist(), got.tolist())
        gate = torch.zeros(args.tokens, args.ranks)
        gate.scatter_add_(1, idx // per, w)
        wsum = torch.cat([gate[dest[:, r], r] for r in range(args.ranks)])
        y = torch.zeros(args.tokens, args.hidden)
        y.index_add_(0, tok, back * wsum[:, None])
        tc = time.perf_counter() - t0
        t = torch.tensor([td, tc], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if it >= args.warmup:
            disp.append(t[0].item())
            comb.append(t[1].item())
    # identity experts: every token's output is its input (gates sum to 1)
    if not torch.allclose(y, x, rtol=1e-5, atol=1e-6):
        print("moe_gloo: rank %d: the combined tokens are wrong" % rank,
              file=sys.stderr)
        sys.exit(1)
    if rank == 0:
        out.put((p50(disp) * 1e6, p50(comb) * 1e6, recv.shape[0]))
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--topk", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    if args.experts % args.ranks != 0:
        ap.error("--experts must be a multiple of --ranks")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, args, port, out))
             for r in range(args.ranks)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        sys.exit(1)
    d, c, rows = out.get()
    print("gloo dispatch_p50_us %.1f combine_p50_us %.1f rows %d" % (d, c, rows))


if __name__ == "__main__":
    main()
