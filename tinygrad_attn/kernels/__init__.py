"""The tuned versions of the fused ops: the same numbers as the readable reference ops, faster.

Each module holds one family's kernels as plain `forward(ctx, ...)` / `backward(ctx, grad)`
functions; the module that defines the op (in `ops/`, `functional/`, `attention/`) registers
them as its kernel, and `ta.use_kernels(False)` switches back to the reference code. This
layer imports only the graph core and NumPy.

    pool.py        reused buffers, cached ones-vectors, row dot products, the malloc switch
    elementwise.py binary ops writing large results into reused buffers
    reduce.py      sum: the ufunc's reduce called directly; small gradients filled, not broadcast views
    activations.py gelu (tanh form) built in place
    loss.py        cross_entropy with BLAS row sums, in place
    norm.py        layer_norm over 2-D rows, in place
    linear.py      one GEMM into a reused buffer, bias in place
    matmul.py      `(..., n) @ (n, m)` as one GEMM over all rows, forward and backward, into reused buffers
    embedding.py   np.take into a reused buffer; backward by sorted runs (reduceat)
    attention.py   scaled dot-product and packed multi-head attention: keys-first weights,
                   cached causal bias, softmax without its max pass when safe, head views
    adam.py        Adam / AdamW in place, all parameters as one long vector (used by optim.py)
"""

__all__ = ["release_memory"]


def release_memory() -> int:
    """Empty every cache the engine keeps: the causal-bias cache (attention.py), this thread's
    pool of reused buffers and the cached ones-vectors (pool.py). Arrays still in use stay valid.
    Returns the bytes the caches held. (Other threads' buffer pools are theirs to release.)"""
    from . import attention, pool

    attention._largest_safe_score.cache_clear()  # a few floats
    return attention.release_causal_biases() + pool.release_buffers() + pool.release_ones()
