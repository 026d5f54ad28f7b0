"""A two-block CNN in PyTorch on the CPU, its FLOP count and the machine's GEMM rate.

Run by hand only (never by the tests; PyTorch is no dependency of the
package): ``python benchmarks/bench_depth_torch.py``. It prepares a later
benchmark of the deeper estimator (``n_filters=(16, 32)``) side by side with
PyTorch, and an "epoch against FLOP floor" report:

- :func:`torch_depth_epoch_seconds` trains the network
  ``Conv2d(1, 16, 3, padding=1) -> Tanh -> MaxPool2d(2) -> Conv2d(16, 32, 3,
  padding=1) -> Tanh -> MaxPool2d(2) -> Flatten -> Linear(32 * 7 * 7, 10)``
  with softmax cross-entropy, Adam (learning rate 1e-3), batches of 64, in
  float32, and returns the median epoch time after one warm-up epoch;
- :func:`depth_network_flops` counts the multiply-adds of the same network's
  forward and backward GEMMs (no im2col copies, no elementwise work);
- :func:`gemm_gflops` measures the float32 GEMM rate of NumPy's BLAS on one
  thread, on the shape of block 2's forward GEMM for a batch of 64.

``depth_network_flops(n)["flops"] / (1e9 * gemm_gflops()["best"])`` is then the
time one epoch's GEMMs would take at the measured rate: a floor for any
implementation on one core (PyTorch on 2 threads can go below it).

The default data (:func:`random_depth_data`) are 10,000 random 28x28 images
with random labels 0..9: the work per epoch does not depend on what is learnt.
Timings on a shared machine move from one minute to the next: compare numbers
measured side by side.
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = [
    "depth_network_flops",
    "gemm_gflops",
    "random_depth_data",
    "torch_depth_epoch_seconds",
    "torch_depth_epoch_times",
]

#: The network of this benchmark: filters per conv block, kernel side (padding
#: ``kernel // 2``, "same"), max-pool window after each block, classes.
N_FILTERS = (16, 32)
KERNEL = 3
POOL = 2
N_CLASSES = 10
BATCH_SIZE = 64
LEARNING_RATE = 1e-3


def random_depth_data(n_images=10_000, size=28, n_classes=N_CLASSES, seed=0):
    """Random float32 images in [0, 1) ``(n, size, size)`` and int64 labels."""
    rng = np.random.RandomState(seed)
    X = rng.rand(n_images, size, size).astype(np.float32)
    y = rng.randint(0, n_classes, size=n_images).astype(np.int64)
    return X, y


def _build_model(torch, height, width, n_classes):
    """The two-block network of the module docstring, in float32."""
    c1, c2 = N_FILTERS
    pad = KERNEL // 2
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, c1, KERNEL, padding=pad),
        torch.nn.Tanh(),
        torch.nn.MaxPool2d(POOL),
        torch.nn.Conv2d(c1, c2, KERNEL, padding=pad),
        torch.nn.Tanh(),
        torch.nn.MaxPool2d(POOL),
        torch.nn.Flatten(),
        torch.nn.Linear(
            c2 * (height // POOL // POOL) * (width // POOL // POOL), n_classes
        ),
    ).to(torch.float32)


def torch_depth_epoch_times(X, y, n_threads=2, epochs=3, warmup=1, seed=0):
    """Train the two-block network in PyTorch; return each timed epoch's seconds.

    Parameters
    ----------
    X : array of shape (n, h, w) or (n, 1, h, w)
        Images (cast to float32); ``h`` and ``w`` divisible by 4 (28 for the
        network of the docstring, ``Linear(32 * 7 * 7, 10)``).
    y : array of shape (n,)
        Integer labels ``0 .. n_classes - 1`` (``n_classes = max(y) + 1``,
        at least 10).
    n_threads : int, default=2
        ``torch.set_num_threads`` for the run (restored afterwards).
    epochs : int, default=3
        Timed epochs.
    warmup : int, default=1
        Untimed epochs first (thread pools, allocator, oneDNN kernels).
    seed : int, default=0
        ``torch.manual_seed``: initial weights and the shuffling.

    Returns
    -------
    times : list of float
        Wall-clock seconds of each timed epoch (shuffle, forward, softmax
        cross-entropy, backward, Adam step over all mini-batches of 64).
    """
    import torch

    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim == 3:
        X = X[:, None]
    n, _, h, w = X.shape
    labels = np.asarray(y, dtype=np.int64)
    n_classes = max(N_CLASSES, int(labels.max()) + 1)
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        torch.manual_seed(seed)
        model = _build_model(torch, h, w, n_classes)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        loss_fn = torch.nn.CrossEntropyLoss()
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(labels)
        times = []
        for epoch in range(warmup + epochs):
            start = time.perf_counter()
            order = torch.randperm(n)
            for first in range(0, n, BATCH_SIZE):
                idx = order[first : first + BATCH_SIZE]
                optimizer.zero_grad()
                loss = loss_fn(model(Xt[idx]), yt[idx])
                loss.backward()
                optimizer.step()
            seconds = time.perf_counter() - start
            if epoch >= warmup:
                times.append(seconds)
        return times
    finally:
        torch.set_num_threads(previous)


def torch_depth_epoch_seconds(X, y, n_threads=2, epochs=3):
    """Median epoch time (s) of :func:`torch_depth_epoch_times`, one warm-up epoch."""
    return statistics.median(
        torch_depth_epoch_times(X, y, n_threads=n_threads, epochs=epochs)
    )


def depth_network_flops(
    n_images,
    image_shape=(28, 28),
    n_filters=N_FILTERS,
    kernel=KERNEL,
    pool=POOL,
    n_classes=N_CLASSES,
    in_channels=1,
):
    """Multiply-adds of one epoch's forward and backward GEMMs (float32 or not).

    For each conv block ``b`` (``"same"`` padding: output ``h x w`` as its
    input; ``K = c_in * kernel**2`` patch rows, ``L = h * w`` pixels,
    ``F`` filters), per image: the forward GEMM ``(F, K) @ (K, L)``, the
    kernel gradient ``(F, L) @ (L, K)`` and, except for the first block (its
    input is the data), the input gradient ``(K, F) @ (F, L)``: ``F * K * L``
    multiply-adds each. Each block is followed by a ``pool x pool`` max pool
    (floor division). The dense layer ``(n_classes, D)`` counts its forward,
    weight gradient and input gradient (which the last block needs):
    ``n_classes * D`` each. Not counted: im2col / col2im copies, tanh, pooling,
    the loss, the optimiser, biases.

    Parameters
    ----------
    n_images : int
        Images in the epoch (every image once, forward and backward).
    image_shape : tuple of int, default=(28, 28)
    n_filters : tuple of int, default=(16, 32)
        Filters of each block, in order.
    kernel, pool, n_classes, in_channels : int
        Kernel side, pool window, outputs, input channels.

    Returns
    -------
    counts : dict
        ``"macs"`` (multiply-adds of the epoch), ``"flops"`` (2 per
        multiply-add), ``"macs_per_image"`` and ``"parts"``: per-image
        multiply-adds of each GEMM, keyed ``"conv1_forward"``,
        ``"conv1_kernel_grad"``, ``"conv2_input_grad"``, ..., ``"dense_*"``.

    Examples
    --------
    >>> c = depth_network_flops(1)
    >>> c["parts"]["conv1_forward"], c["parts"]["conv2_forward"]
    (112896, 903168)
    >>> c["macs_per_image"], c["flops"]
    (2982336, 5964672)
    """
    h, w = image_shape
    c_in = in_channels
    parts = {}
    for b, f in enumerate(n_filters, start=1):
        k = c_in * kernel * kernel
        macs = f * k * h * w
        parts[f"conv{b}_forward"] = macs
        parts[f"conv{b}_kernel_grad"] = macs
        if b > 1:
            parts[f"conv{b}_input_grad"] = macs
        h, w, c_in = h // pool, w // pool, f
    dense = n_classes * c_in * h * w
    parts["dense_forward"] = dense
    parts["dense_weight_grad"] = dense
    parts["dense_input_grad"] = dense
    per_image = sum(parts.values())
    return {
        "macs": per_image * n_images,
        "flops": 2 * per_image * n_images,
        "macs_per_image": per_image,
        "parts": parts,
    }


def gemm_gflops(
    m=32, k=144, n=BATCH_SIZE * 14 * 14, dtype=np.float32, repeats=30, threads=1
):
    """Measure NumPy's GEMM rate, ``(m, k) @ (k, n)`` into a preallocated output.

    The default shape is block 2's forward GEMM for a batch of 64 images
    (32 filters, 16 channels x 3 x 3 patch rows, 64 x 14 x 14 pixels). BLAS
    is limited to ``threads`` threads (threadpoolctl) for the measurement.

    Returns
    -------
    rate : dict
        ``"best"`` and ``"median"`` GFLOP/s (2 flops per multiply-add) over
        ``repeats`` timed GEMMs after one untimed, and the shape.
    """
    rng = np.random.RandomState(0)
    a = rng.rand(m, k).astype(dtype)
    b = rng.rand(k, n).astype(dtype)
    out = np.empty((m, n), dtype)
    flops = 2.0 * m * k * n
    seconds = []
    with threadpool_limits(limits=threads, user_api="blas"):
        np.dot(a, b, out=out)
        for _ in range(repeats):
            start = time.perf_counter()
            np.dot(a, b, out=out)
            seconds.append(time.perf_counter() - start)
    return {
        "best": flops / min(seconds) / 1e9,
        "median": flops / statistics.median(seconds) / 1e9,
        "shape": [m, k, n],
        "dtype": np.dtype(dtype).name,
        "threads": threads,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the results as JSON")
    args = parser.parse_args(argv)

    import torch

    X, y = random_depth_data(args.n_images)
    times = torch_depth_epoch_times(X, y, n_threads=args.threads, epochs=args.epochs)
    epoch = statistics.median(times)
    counts = depth_network_flops(args.n_images)
    rate = gemm_gflops()
    floor = counts["flops"] / (rate["best"] * 1e9)
    results = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "n_images": args.n_images,
        "threads": args.threads,
        "epoch_times": times,
        "epoch_median": epoch,
        "flops_per_epoch": counts["flops"],
        "macs_per_image": counts["macs_per_image"],
        "parts": counts["parts"],
        "gemm": rate,
        "gemm_floor_seconds": floor,
    }
    print(
        f"PyTorch {torch.__version__}, {args.threads} threads, "
        f"{args.n_images} images 28x28, float32, batch {BATCH_SIZE}"
    )
    print(
        f"epoch times (s): {', '.join(f'{t:.3f}' for t in times)}; median {epoch:.3f}"
    )
    print(
        f"GEMM work per epoch: {counts['flops'] / 1e9:.1f} GFLOP "
        f"({counts['macs_per_image']:,} multiply-adds per image)"
    )
    print(
        f"NumPy float32 GEMM {rate['shape']} on 1 BLAS thread: "
        f"{rate['best']:.1f} GFLOP/s best, {rate['median']:.1f} median"
    )
    print(
        f"GEMM floor of an epoch at the best rate, 1 thread: {floor:.3f} s; "
        f"PyTorch epoch / floor: {epoch / floor:.2f}"
    )
    print(f"load average: {os.getloadavg()[0]:.2f} (shared machine: rough numbers)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
