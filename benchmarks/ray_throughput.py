"""Throughput per core of `read --engine ray` against the local thread pool, on generated photos.

Writes `--count` photos (default 5,000: copies of 100 generated realistic 640x480 pages, seed 7, each copy its
own file) into a temporary folder, reads them once with the local path (`read_all`, its thread pool) and once on a
local Ray (`ray.init(num_cpus=N)`, N actors), the same models, one onnxruntime thread per reader, and prints
images per second per core for both, their ratio, Ray's start-up time (init, until the first actor answers), and
the object store's peak use during the run (sampled every 50 ms).

Usage:
    python benchmarks/ray_throughput.py [--count 5000] [--cpus 2] [--model models/cnn-bn-aug.onnx]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def make_photos(folder: Path, count: int) -> None:
    from edgedigits.data import load_mnist
    from edgedigits.fieldset_realistic import LEVELS, SOURCES, render_realistic

    _, test = load_mnist()
    rng = np.random.default_rng(7)
    pages = [render_realistic(rng, LEVELS[i % 3], SOURCES[i % 3], test, frame=(640, 480)).jpeg for i in range(100)]
    for index in range(count):
        (folder / f"photo-{index:05d}.jpg").write_bytes(pages[index % len(pages)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--model", default="models/cnn-bn-aug.onnx")
    parser.add_argument("--mask", default="models/inkseg.onnx")
    parser.add_argument("--sequence", default="models/seqread.onnx")
    args = parser.parse_args()

    import ray

    from edgedigits.runtime import Reader
    from edgedigits.runtime.batch import read_all
    from edgedigits.runtime.inputs import expand
    from edgedigits.scale import read_with_ray

    work = Path(tempfile.mkdtemp())
    try:
        make_photos(work, args.count)
        inputs = expand([str(work)])
        models = [Path(p).resolve() if p else None for p in (args.model, args.mask, args.sequence)]
        reader = Reader(models[0], device="cpu", threads=1, ink_model=models[1], sequence_model=models[2])
        start = time.perf_counter()
        local = sum(1 for _ in read_all(reader, inputs, workers=args.cpus))
        local_rate = local / (time.perf_counter() - start)

        start = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        total = ray.cluster_resources()["object_store_memory"]
        peak, sampling = [0.0], threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                used = total - ray.available_resources().get("object_store_memory", total)
                peak[0] = max(peak[0], used)
                time.sleep(0.05)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stats = read_with_ray(inputs, *models, 0.5, work / "out.jsonl", workers=args.cpus)
        sampling.set()
        init_seconds = stats["startup_s"]
        ray_rate = stats["records"] / stats["seconds"]
        print(f"{args.count} photos 640x480, {args.cpus} CPUs, models {', '.join(p.name for p in models if p)}")
        print(f"local thread pool: {local_rate:.0f} images/s = {local_rate / args.cpus:.0f} per core")
        print(f"Ray Data, {args.cpus} actors: {ray_rate:.0f} images/s = {ray_rate / args.cpus:.0f} per core "
              f"({ray_rate / local_rate:.0%} of local), including the actors' start")
        print(f"Ray start-up: ray.init {init_seconds:.1f} s; whole Ray run {time.perf_counter() - start:.1f} s")
        print(f"object store: peak {peak[0] / 2**20:.0f} MiB used of {total / 2**20:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
