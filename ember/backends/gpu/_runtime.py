"""What the CUDA backend answers about its devices, through CuPy.

``ember.cuda`` (torch.cuda's API) asks this object; it is made when the
backend registers, so CuPy is imported by then.

Memory: CuPy allocates through its memory pool, so "allocated" is the pool's
bytes in use and "reserved" the bytes it holds (torch's caching allocator
has the same two notions, both rounded to 512-byte blocks as CuPy's are).
CuPy keeps no peak, so the backend allocates through a small wrapper of the
pool's ``malloc`` that records the bytes in use after each allocation, per
device: ``max_memory_allocated`` is exact for memory Ember's arrays take
through CuPy's default pool (installed only when CuPy's allocator is still
that pool's, so a user's own allocator is left alone; the peak is then 0).
"""
import contextlib


class CupyRuntime:
    def __init__(self, cupy, count):
        self.cupy = cupy
        self.count = count
        self.pool = cupy.get_default_memory_pool()
        self.peak = {}          # device number -> most bytes in use since the last reset
        self.tracking = False
        self._track_peaks()

    # ---- device numbers ---------------------------------------------------------------
    def device_count(self):
        return self.count

    def current_device(self):
        return self.cupy.cuda.runtime.getDevice()

    def set_device(self, index):
        self.cupy.cuda.runtime.setDevice(index)

    def index_of(self, array):
        return array.device.id

    def using(self, index):
        """A context in which new arrays go to device ``index``."""
        return self.cupy.cuda.Device(index)

    def synchronize(self, index):
        self.cupy.cuda.Device(index).synchronize()

    # ---- what the devices are ---------------------------------------------------------
    def properties(self, index):
        return DeviceProperties(self.cupy.cuda.runtime.getDeviceProperties(index))

    def mem_get_info(self, index):
        with self.cupy.cuda.Device(index):
            return self.cupy.cuda.runtime.memGetInfo()

    # ---- memory -----------------------------------------------------------------------
    def _track_peaks(self):
        cupy = self.cupy
        if cupy.cuda.get_allocator() != self.pool.malloc:   # (the user's own: left alone)
            return
        pool, peak = self.pool, self.peak

        def malloc(size):
            mem = pool.malloc(size)
            used = pool.used_bytes()
            dev = mem.device_id
            if used > peak.get(dev, 0):
                peak[dev] = used
            return mem
        cupy.cuda.set_allocator(malloc)
        self.tracking = True

    def memory_allocated(self, index):
        with self.cupy.cuda.Device(index):
            return self.pool.used_bytes()

    def memory_reserved(self, index):
        with self.cupy.cuda.Device(index):
            return self.pool.total_bytes()

    def max_memory_allocated(self, index):
        return max(self.peak.get(index, 0), self.memory_allocated(index) if self.tracking else 0)

    def reset_peak_memory_stats(self, index):
        self.peak[index] = self.memory_allocated(index)

    def empty_cache(self):
        self.pool.free_all_blocks()
        self.cupy.get_default_pinned_memory_pool().free_all_blocks()

    # ---- random numbers -----------------------------------------------------------------
    def make_rng(self, seed):
        """A generator of device arrays (CuPy's, XORWOW) seeded with ``seed``,
        on the current device.  It draws as NumPy's Generator does:
        ``random``, ``standard_normal``, ``integers``, ``uniform`` ..."""
        return self.cupy.random.default_rng(seed)

    # ---- streams and events -------------------------------------------------------------
    def stream(self, index=None, priority=0):
        ctx = self.cupy.cuda.Device(index) if index is not None else contextlib.nullcontext()
        with ctx:
            return self.cupy.cuda.Stream(non_blocking=False, priority=priority)

    def current_stream(self):
        return self.cupy.cuda.get_current_stream()

    def default_stream(self):
        return self.cupy.cuda.Stream.null

    def event(self, enable_timing, blocking, interprocess):
        return self.cupy.cuda.Event(block=blocking, disable_timing=not enable_timing,
                                    interprocess=interprocess)

    def elapsed_ms(self, start, end):
        return self.cupy.cuda.get_elapsed_time(start, end)


class DeviceProperties:
    """torch.cuda.get_device_properties's answer: name, total_memory, major,
    minor, multi_processor_count, L2_cache_size, is_integrated,
    is_multi_gpu_board, warp_size."""

    def __init__(self, p):
        name = p["name"]
        self.name = name.decode() if isinstance(name, bytes) else str(name)
        self.total_memory = int(p["totalGlobalMem"])
        self.major = int(p["major"])
        self.minor = int(p["minor"])
        self.multi_processor_count = int(p["multiProcessorCount"])
        self.L2_cache_size = int(p.get("l2CacheSize", 0))
        self.is_integrated = int(p.get("integrated", 0))
        self.is_multi_gpu_board = int(p.get("isMultiGpuBoard", 0))
        self.warp_size = int(p.get("warpSize", 32))

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, "
                f"minor={self.minor}, total_memory={self.total_memory // (1024 * 1024)}MB, "
                f"multi_processor_count={self.multi_processor_count}, "
                f"L2_cache_size={self.L2_cache_size // (1024 * 1024)}MB)")
