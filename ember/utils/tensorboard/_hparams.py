"""The three summaries of one hyperparameter trial, as TensorBoard's HParams
plugin reads them: the experiment (which hyperparameters and metrics exist),
the session start (this trial's values) and the session end.  Built from the
plugin's own protos and metadata helper."""
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from ..._tensor_base import TensorBase


def _plain(name, v):
    """A hyperparameter value as a Python bool, number or str."""
    if isinstance(v, TensorBase):
        v = v.detach().numpy(force=True).reshape(-1)[0].item()
    elif hasattr(v, "item") and not isinstance(v, (str, bytes)):   # (a NumPy scalar)
        v = v.item()
    if isinstance(v, (bool, int, float, str)):
        return v
    raise ValueError("value should be one of int, float, str, bool, or torch.Tensor")


def _summary(tag, data):
    summary = Summary()
    summary.value.add(tag=tag, metadata=metadata.create_summary_metadata(data),
                      tensor=metadata.NULL_TENSOR)
    return summary


def hparams_summaries(hparam_dict, metric_dict, hparam_domain_discrete=None):
    """(experiment, session start, session end) Summary protos."""
    if hparam_domain_discrete is None:
        hparam_domain_discrete = {}
    if not isinstance(hparam_domain_discrete, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, "
                        f"{hparam_domain_discrete} is a {type(hparam_domain_discrete)}")
    for k, values in hparam_domain_discrete.items():
        if k not in hparam_dict or not isinstance(values, list) or \
                not all(isinstance(d, type(hparam_dict[k])) for d in values):
            raise TypeError(f"parameter: hparam_domain_discrete[{k}] should be a list of same "
                            f"type as hparam_dict[{k}].")

    start = plugin_data_pb2.SessionStartInfo()
    infos = []
    for k, v in hparam_dict.items():
        if v is None:
            continue
        v = _plain(k, v)
        info = api_pb2.HParamInfo(name=k)
        domain = hparam_domain_discrete.get(k)
        if isinstance(v, (int, float)):
            # (a bool too, as in torch: bool is an int, so it is written as 0/1)
            start.hparams[k].number_value = v
            info.type = api_pb2.DATA_TYPE_FLOAT64
            domain = domain and [float(d) for d in domain]
        else:
            start.hparams[k].string_value = v
            info.type = api_pb2.DATA_TYPE_STRING
        if domain:
            # (the ListValue's append picks the right kind for bool/number/str)
            info.domain_discrete.extend(domain)
        infos.append(info)

    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metric_dict]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    return (_summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(
                experiment=experiment, version=metadata.PLUGIN_DATA_VERSION)),
            _summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(
                session_start_info=start, version=metadata.PLUGIN_DATA_VERSION)),
            _summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(
                session_end_info=plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS),
                version=metadata.PLUGIN_DATA_VERSION)))
