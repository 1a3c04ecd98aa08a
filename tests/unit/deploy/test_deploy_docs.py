"""The README's deployment section names every environment variable each image reads, so a new
setting cannot ship undocumented."""

from __future__ import annotations

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from delivery_service.settings import DeliverySettings
from gateway.settings import GatewaySettings
from inventory_service.settings import InventorySettings
from sales_service.settings import SalesSettings
from shared.settings import ServiceSettings
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()
DEPLOYING = README[README.index("## Deploying") :]


def variables(settings: type[BaseSettings]) -> list[str]:
    """The names a settings class reads: its alias when it has one, else PREFIX_FIELD, or the
    README's generic `<P>_FIELD` for a field every service shares."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = []
    for name, field in settings.model_fields.items():
        if isinstance(field.validation_alias, AliasChoices):
            names.append(str(field.validation_alias.choices[0]))
        elif name in ServiceSettings.model_fields and f"`<P>_{name.upper()}`" in DEPLOYING:
            names.append(f"<P>_{name.upper()}")
        else:
            names.append(f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize("settings", [GatewaySettings, InventorySettings, SalesSettings, DeliverySettings])
def test_the_deployment_section_names_every_variable_an_image_reads(settings: type[BaseSettings]) -> None:
    missing = [name for name in variables(settings) if f"`{name}`" not in DEPLOYING]
    assert not missing, f"README's Deploying section does not document {missing}"
