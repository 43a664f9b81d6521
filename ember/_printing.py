"""torch-style ``repr`` for tensors: ``tensor([1.0000, 2.5000], requires_grad=True)``."""
import numpy as np

from . import _dtype as D

PRINT_OPTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """Change how tensors print (same options as torch.set_printoptions)."""
    if profile == "default":
        PRINT_OPTS.update(precision=4, threshold=1000, edgeitems=3, linewidth=80)
    elif profile == "short":
        PRINT_OPTS.update(precision=2, threshold=1000, edgeitems=2, linewidth=80)
    elif profile == "full":
        PRINT_OPTS.update(precision=4, threshold=float("inf"), edgeitems=3, linewidth=80)
    for k, v in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                 ("linewidth", linewidth)):
        if v is not None:
            PRINT_OPTS[k] = v
    PRINT_OPTS["sci_mode"] = sci_mode


def _float_formatter(arr):
    """Pick torch's number style for the finite values of ``arr``."""
    prec = PRINT_OPTS["precision"]
    vals = arr[np.isfinite(arr)] if arr.size else arr
    shown = _summarized_values(arr)
    vals = shown[np.isfinite(shown)] if shown.size else shown
    nonzero = np.abs(vals[vals != 0]).astype(np.float64) if vals.size else vals
    int_mode = vals.size == 0 or bool(np.all(np.ceil(vals) == vals))
    sci = False
    if nonzero.size:
        mx, mn = float(nonzero.max()), float(nonzero.min())
        sci = mx / mn > 1000.0 or mx > 1e8 or (not int_mode and mn < 1e-4)
    if PRINT_OPTS["sci_mode"] is not None:
        sci = PRINT_OPTS["sci_mode"]
    if sci:
        fmt = lambda v: np.format_float_scientific(v, precision=prec, unique=False, exp_digits=2)
    elif int_mode:
        fmt = lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)
    else:
        fmt = lambda v: f"{v:.{prec}f}"

    def one(v):
        v = float(v)
        if np.isnan(v):
            return "nan"
        if np.isinf(v):
            return "inf" if v > 0 else "-inf"
        return fmt(v)

    shown = _summarized_values(arr)
    finite = shown[np.isfinite(shown)]
    # torch sizes columns by the finite values; nan/inf are padded to that
    width = max((len(one(v)) for v in (finite if finite.size else shown)), default=1)
    return lambda v: one(v).rjust(width)


def _summarized_values(arr):
    thr, edge = PRINT_OPTS["threshold"], PRINT_OPTS["edgeitems"]
    if arr.size <= thr or arr.ndim == 0:
        return arr.ravel()
    parts = arr
    for ax in range(arr.ndim):
        if parts.shape[ax] > 2 * edge:
            idx = np.r_[0:edge, parts.shape[ax] - edge:parts.shape[ax]]
            parts = np.take(parts, idx, axis=ax)
    return parts.ravel()


def _complex_formatter(arr):
    """torch's complex style: the real parts formatted (and padded) as one float column,
    the imaginary parts as another, joined as ``1.0000+2.0000e+00j``."""
    fr, fi = _float_formatter(arr.real), _float_formatter(arr.imag)

    def one(v):
        im = fi(v.imag).lstrip() + "j"
        return fr(v.real) + (im if im[0] in "+-" else "+" + im)
    return one


def _format_array(arr, prefix):
    if arr.dtype.kind == "c":
        formatter = {"complex_kind": _complex_formatter(arr)}
    elif arr.dtype.kind == "f":
        f = _float_formatter(arr)
        formatter = {"float_kind": f}
    elif arr.dtype.kind == "b":
        width = 5 if arr.size and (~arr).any() else 4
        formatter = {"bool": lambda v: str(bool(v)).rjust(width)}
    else:
        shown = _summarized_values(arr)
        width = max((len(str(int(v))) for v in shown), default=1)
        formatter = {"int": lambda v: str(int(v)).rjust(width)}
    if arr.ndim == 0:
        return list(formatter.values())[0](arr.item()).strip()
    thr = PRINT_OPTS["threshold"]
    text = np.array2string(arr, separator=", ", prefix=prefix, formatter=formatter,
                           threshold=int(min(thr, 2 ** 62)), edgeitems=PRINT_OPTS["edgeitems"],
                           max_line_width=PRINT_OPTS["linewidth"])
    return text.replace(", ...,", ",  ...,")  # torch sets the ellipsis off by two spaces


def tensor_repr(t):
    if t.dtype is D.bfloat16:       # (no NumPy formatting for it: print its exact float32 values)
        arr = t.float().numpy(force=True)
        return _repr_text(t, arr, D.bfloat16)
    arr = t.numpy(force=True)        # (the host's view or copy of the data)
    return _repr_text(t, arr, D._FROM_NP[arr.dtype])


def _repr_text(t, arr, dt):
    prefix = "tensor("
    suffixes = []
    if type(t._data) is not np.ndarray and t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    if arr.size == 0 and arr.shape != (0,):
        body = "[]"
        suffixes.append(f"size={tuple(arr.shape)}")
    else:
        body = _format_array(arr, prefix)
    # int64 and bool go unsaid only when the values show them; an empty
    # tensor has none, so its dtype is said unless it is the default float
    default_complex = D.get_default_dtype().to_complex()
    if dt not in (D.get_default_dtype(), D.int64, D.bool, default_complex) or (
            arr.size == 0 and dt is not D.get_default_dtype()):
        suffixes.append(f"dtype={dt!r}")
    elif dt is D.float32 and D.get_default_dtype() is not D.float32:
        suffixes.append(f"dtype={dt!r}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    name = "Parameter containing:\n" if type(t).__name__ == "Parameter" else ""
    return name + prefix + body + "".join(", " + s for s in suffixes) + ")"


def sparse_repr(t):
    """torch's repr of a sparse tensor: its component tensors, then size, nnz,
    dtype (unless the default float) and layout."""
    from .backends import backend_of
    d = t._data

    def part(label, arr, indent):
        # (the parts' dtypes go unsaid: the closing line says the values' dtype)
        host = backend_of(arr).to_host(arr)
        text = "tensor(" + _format_array(host, "tensor(") + ")"
        return label + text.replace("\n", "\n" + " " * indent)

    dt = D._FROM_NP[d.dtype]
    dtype = f", dtype={dt!r}" if dt is not D.get_default_dtype() else ""
    if t.grad_fn is not None:
        tail = f", grad_fn=<{t.grad_fn.name()}>"
    elif t.requires_grad:
        tail = ", requires_grad=True"
    else:
        tail = ""
    if d.layout == "sparse_csr":
        return (part("tensor(crow_indices=", d.crow, 20) + ",\n"
                + part("       col_indices=", d.col, 19) + ",\n"
                + part("       values=", d.values, 14)
                + f", size={d.shape}, nnz={d.nnz}{dtype},\n       layout=torch.sparse_csr{tail})")
    return (part("tensor(indices=", d.indices, 15) + ",\n"
            + part("       values=", d.values, 14) + ",\n"
            + f"       size={d.shape}, nnz={d.nnz}{dtype}, layout=torch.sparse_coo{tail})")
