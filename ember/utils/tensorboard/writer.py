"""``SummaryWriter``: torch.utils.tensorboard's writer, on the ``tensorboard``
package's own event-file writer and protocol buffers.

Every ``add_*`` turns its value into a ``Summary`` (or a ``GraphDef``) proto
and hands it, wrapped in an ``Event``, to tensorboard's ``EventFileWriter``,
which queues it and writes TFRecord files a background thread flushes.  What
each proto holds follows torch's writer, so TensorBoard shows the same thing
for the same calls.
"""
import os
import time

import numpy as np

from tensorboard.compat.proto.event_pb2 import Event, SessionLog, TaggedRunMetadata
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from ..._tensor_base import TensorBase

__all__ = ["FileWriter", "SummaryWriter"]


class FileWriter:
    """One event file in ``log_dir`` (torch's ``FileWriter``): events are queued
    and written by tensorboard's asynchronous ``EventFileWriter``."""

    def __init__(self, log_dir, max_queue=10, flush_secs=120, filename_suffix=""):
        log_dir = str(log_dir)
        self.event_writer = EventFileWriter(log_dir, max_queue, flush_secs, filename_suffix)

    def get_logdir(self):
        return self.event_writer.get_logdir()

    def add_event(self, event, step=None, walltime=None):
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            # (an integer step: the proto field is int64, and numpy ints would not do)
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_summary(self, summary, global_step=None, walltime=None):
        self.add_event(Event(summary=summary), global_step, walltime)

    def add_graph(self, graph_profile, walltime=None):
        graph_def, run_metadata = graph_profile
        self.add_event(Event(graph_def=graph_def.SerializeToString()), None, walltime)
        tagged = TaggedRunMetadata(tag="step1", run_metadata=run_metadata.SerializeToString())
        self.add_event(Event(tagged_run_metadata=tagged), None, walltime)

    def flush(self):
        self.event_writer.flush()

    def close(self):
        self.event_writer.close()


class SummaryWriter:
    """Writes scalars, histograms, images, text, graphs and hyperparameters
    to event files in ``log_dir`` for TensorBoard (torch's SummaryWriter).

    ``log_dir`` defaults to ``runs/CURRENT_DATETIME_HOSTNAME`` (+ ``comment``).
    The file is created at once; values are queued (``max_queue``) and
    written at least every ``flush_secs`` seconds, at ``flush()`` and at
    ``close()``.  ``purge_step``: TensorBoard hides the events of this log
    with a step >= purge_step written before (resuming after a crash).
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10,
                 flush_secs=120, filename_suffix=""):
        if not log_dir:
            import socket
            from datetime import datetime
            now = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", now + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self._get_file_writer()

    def _get_file_writer(self):
        """The writer of ``log_dir``'s own file; made again after ``close()``."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs,
                                          self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                # A restart marker: TensorBoard drops the older events past this step.
                step = self.purge_step
                self.file_writer.add_event(Event(step=step, file_version="brain.Event:2"))
                self.file_writer.add_event(
                    Event(step=step, session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self):
        return self.log_dir

    # ---- scalars -----------------------------------------------------------------------
    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """One value of the curve ``tag`` at ``global_step``."""
        summary = _scalar_summary(tag, scalar_value, new_style, double_precision)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several curves in one chart: each key of ``tag_scalar_dict`` gets its
        own run, a sub-directory ``log_dir/main_tag_key``, holding tag
        ``main_tag``."""
        walltime = time.time() if walltime is None else walltime
        root = self._get_file_writer().get_logdir()
        for tag, value in tag_scalar_dict.items():
            sub = root + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(sub)
            if fw is None:
                fw = self.all_writers[sub] = FileWriter(sub, self.max_queue, self.flush_secs,
                                                        self.filename_suffix)
            fw.add_summary(_scalar_summary(main_tag, value), global_step, walltime)

    # ---- histograms --------------------------------------------------------------------
    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """A histogram of ``values`` (any shape).  ``bins``: "tensorflow"
        (exponentially growing buckets, TensorFlow's), a NumPy bin rule
        ("auto", "fd", ...), a count, or the bucket edges."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = _tensorflow_bins()
        summary = _histogram_summary(tag, _to_numpy(values).astype(float), bins, max_bins)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits,
                          bucket_counts, global_step=None, walltime=None):
        """A histogram already counted: ``bucket_counts[i]`` values at most
        ``bucket_limits[i]``."""
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
        hist = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares,
                              bucket_limit=list(bucket_limits), bucket=list(bucket_counts))
        self._get_file_writer().add_summary(
            Summary(value=[Summary.Value(tag=tag, histo=hist)]), global_step, walltime)

    # ---- images ------------------------------------------------------------------------
    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image: (3, H, W) by default (``dataformats`` names the axes:
        "CHW", "HWC", "HW"; "NCHW"... for a batch tiled into a grid).  Float
        values are in [0, 1], uint8 values in [0, 255]."""
        summary = _image_summary(tag, img_tensor, dataformats)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images (N, 3, H, W) tiled into one grid, 8 to a row."""
        summary = _image_summary(tag, img_tensor, dataformats)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    # ---- text --------------------------------------------------------------------------
    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Text (Markdown) shown in TensorBoard's text tab, under ``tag + "/text_summary"``."""
        self._get_file_writer().add_summary(_text_summary(tag, text_string), global_step,
                                            walltime)

    # ---- the graph ---------------------------------------------------------------------
    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The graph of ``model`` run once on ``input_to_model`` (a tensor or a
        tuple of them): one node per op it ran, named by the module that ran
        it (``Net/Linear[fc1]/linear.2``), plus the inputs, parameters and
        outputs.  The model runs in eval mode without recording gradients."""
        from ._graph import trace_graph
        self._get_file_writer().add_graph(trace_graph(model, input_to_model, verbose))

    # ---- hyperparameters ---------------------------------------------------------------
    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """One trial for TensorBoard's HParams tab: its hyperparameters and
        final metrics, written as a new run ``log_dir/run_name`` (default: the
        current time)."""
        from ._hparams import hparams_summaries
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        experiment, start, end = hparams_summaries(hparam_dict, metric_dict,
                                                   hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as run:
            run.file_writer.add_summary(experiment, global_step)
            run.file_writer.add_summary(start, global_step)
            run.file_writer.add_summary(end, global_step)
            for k, v in metric_dict.items():
                run.add_scalar(k, v, global_step)

    # ---- lifetime ----------------------------------------------------------------------
    def flush(self):
        """Write everything queued to disk now."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self):
        """Flush and close every file (a later ``add_*`` opens a new one)."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()


# ---- values to NumPy ------------------------------------------------------------------------

def _to_numpy(x):
    """A tensor, array or Python number as a NumPy array (torch's make_np)."""
    if isinstance(x, TensorBase):
        return x.detach().numpy(force=True)
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (int, float, bool, np.generic)):
        return np.array([x])
    raise NotImplementedError(f"Got {type(x)}, but numpy array or ember tensor are expected.")


# ---- summaries --------------------------------------------------------------------------------

def _scalar_summary(tag, value, new_style=False, double_precision=False):
    arr = _to_numpy(value)
    if arr.squeeze().ndim != 0:
        raise AssertionError("scalar should be 0D")
    value = float(arr.reshape(-1)[0])
    if not new_style:
        return Summary(value=[Summary.Value(tag=tag, simple_value=value)])
    # The "tensor" form TensorBoard's scalars plugin reads without conversion.
    if double_precision:
        tensor = TensorProto(double_val=[value], dtype="DT_DOUBLE")
    else:
        tensor = TensorProto(float_val=[value], dtype="DT_FLOAT")
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    return Summary(value=[Summary.Value(tag=tag, tensor=tensor, metadata=meta)])


_TF_BINS = None


def _tensorflow_bins():
    """TensorFlow's default histogram edges: +-1e-12 growing by 10% up to 1e20,
    and 0 (about 1,500 edges; TensorBoard's own writer uses the same)."""
    global _TF_BINS
    if _TF_BINS is None:
        pos = []
        v = 1e-12
        while v < 1e20:
            pos.append(v)
            v *= 1.1
        _TF_BINS = [-p for p in reversed(pos)] + [0] + pos
    return _TF_BINS


def _histogram_summary(tag, values, bins, max_bins=None):
    values = values.reshape(-1)
    if values.size == 0:
        raise ValueError("The input has no element.")
    counts, limits = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        # Merge every ``group`` neighbouring buckets (torch's grouping: the
        # count // max_bins, so a little over max_bins may remain).
        group = len(counts) // max_bins
        counts = np.pad(counts, (0, (-len(counts)) % group)).reshape(-1, group).sum(axis=1)
        limits = np.append(limits[:-1:group], limits[-1])
    # Keep the buckets from one before the first non-empty bucket to the last
    # non-empty one: TensorBoard draws the first limit as the histogram's left edge.
    nonzero = np.flatnonzero(counts)
    first, last = int(nonzero[0]), int(nonzero[-1])
    if first > 0:
        counts = counts[first - 1:last + 1]
    else:
        counts = np.concatenate([[0], counts[:last + 1]])
    limits = limits[first:last + 2]
    hist = HistogramProto(min=float(values.min()), max=float(values.max()), num=len(values),
                          sum=float(values.sum()), sum_squares=float(values.dot(values)),
                          bucket_limit=limits.tolist(), bucket=counts.tolist())
    return Summary(value=[Summary.Value(tag=tag, histo=hist)])


def _to_hwc(img, dataformats):
    """``img`` laid out as ``dataformats`` says, as (H, W, C) with 3 or 4 channels;
    a batch is tiled into a grid first."""
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt) or not set(fmt) <= set("NCHW"):
        raise AssertionError(f"dataformats should be made of distinct N, C, H, W, got {dataformats!r}")
    if img.ndim != len(fmt):
        raise AssertionError(f"size of input tensor and input format are different. "
                             f"tensor shape: {img.shape}, input_format: {dataformats}")
    if len(fmt) == 4:
        return _grid(img.transpose([fmt.find(c) for c in "NCHW"])).transpose(1, 2, 0)
    if len(fmt) == 3:
        hwc = img.transpose([fmt.find(c) for c in "HWC"])
        return np.concatenate([hwc] * 3, axis=2) if hwc.shape[2] == 1 else hwc
    if len(fmt) == 2:
        hw = img.transpose([fmt.find(c) for c in "HW"])
        return np.stack([hw] * 3, axis=2)
    raise AssertionError(f"dataformats should have 2, 3 or 4 axes, got {dataformats!r}")


def _grid(nchw, ncols=8):
    """A batch (N, C, H, W) as one (C, rows*H, cols*W) image, row by row."""
    if nchw.shape[1] == 1:
        nchw = np.concatenate([nchw] * 3, axis=1)
    n, c, h, w = nchw.shape
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    canvas = np.zeros((c, h * nrows, w * ncols), dtype=nchw.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = nchw[i]
    return canvas


def _image_summary(tag, img_tensor, dataformats):
    hwc = _to_hwc(_to_numpy(img_tensor), dataformats)
    # uint8 images are taken as they are; anything else is in [0, 1].
    scale = 1 if hwc.dtype == np.uint8 else 255
    pixels = (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    height, width, channels = pixels.shape
    image = Summary.Image(height=height, width=width, colorspace=channels,
                          encoded_image_string=_png(pixels))
    return Summary(value=[Summary.Value(tag=tag, image=image)])


def _png(pixels):
    """PNG bytes of an (H, W, 3 or 4) uint8 image (through Pillow)."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("add_image needs Pillow to encode PNG images: pip install pillow") from e
    import io
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _text_summary(tag, text):
    from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name="text", content=TextPluginData(version=0).SerializeToString()))
    tensor = TensorProto(dtype="DT_STRING", string_val=[text.encode("utf_8")],
                         tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=meta, tensor=tensor)])
