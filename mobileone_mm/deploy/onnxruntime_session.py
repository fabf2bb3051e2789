"""ONNX Runtime sessions on the CPU, opened one way for every check and timing of the project."""
import onnxruntime as ort


def open_session(path: str, threads: int) -> ort.InferenceSession:
    """An ONNX file in ONNX Runtime's CPU provider with ``threads`` intra-op threads that do not spin.

    By default ONNX Runtime's threads spin after each run and slow whatever
    is timed next in the process (a GEMM: 246 instead of 395 GFLOP/s,
    docs/performance.md), so every session timed here turns spinning off.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
