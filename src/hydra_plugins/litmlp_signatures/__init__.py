"""Serves `/signature/<package>/<module>/<Class>`: the schema made from that class's constructor (see
`litmlp.config.signature`). Hydra finds this source through the search-path plugin below."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigResult, ConfigSource
from hydra.plugins.search_path_plugin import SearchPathPlugin
from omegaconf import OmegaConf

GROUP = "signature"


def _dotted(config_path: str) -> str:
    path = config_path.strip("/").removesuffix(".yaml")
    return path.removeprefix(f"{GROUP}/").replace("/", ".") if path.startswith(f"{GROUP}/") else ""


class SignatureConfigSource(ConfigSource):
    @staticmethod
    def scheme() -> str:
        return "litmlp-signature"

    def load_config(self, config_path: str) -> ConfigResult:
        from litmlp.config.signature import schema_of

        found = schema_of(_dotted(config_path))
        assert found is not None
        schema, open_ended = found
        node = OmegaConf.structured(schema)
        if open_ended:  # the class takes **kwargs: any other key may be given too
            OmegaConf.set_struct(node, False)
        return ConfigResult(
            config=node,
            path=f"{self.scheme()}://{self.path}",
            provider=self.provider,
            header={"package": None},
        )

    def available(self) -> bool:
        return True

    def is_group(self, config_path: str) -> bool:
        import importlib.util

        path = config_path.strip("/")
        if path == GROUP:
            return True
        dotted = _dotted(path)
        try:
            return bool(dotted) and importlib.util.find_spec(dotted) is not None
        except (ImportError, ValueError):
            return False

    def is_config(self, config_path: str) -> bool:
        from litmlp.config.signature import description

        dotted = _dotted(config_path)
        return bool(dotted) and description(dotted) is not None

    def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
        return []


class SignatureSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="litmlp-signature", path="litmlp-signature://")
