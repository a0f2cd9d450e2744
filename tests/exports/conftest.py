import pytest

from kap.content.loader import read_pack
from kap.content.specs import InstrumentSpec
from tests.exports.helpers import PACK_DIR


@pytest.fixture(scope="session")
def pack_specs() -> dict[str, InstrumentSpec]:
    return {s.key: s for s in read_pack(PACK_DIR).instruments}


@pytest.fixture(scope="session")
def phq9(pack_specs) -> InstrumentSpec:
    return pack_specs["phq9"]


@pytest.fixture(scope="session")
def gad7(pack_specs) -> InstrumentSpec:
    return pack_specs["gad7"]
