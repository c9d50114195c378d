"""What a job can be built from: presets and workflow templates, with their parameter schemas."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentApiKey
from api.schemas import PresetsPublic, WorkflowsPublic
from presets import list_presets, list_templates

router = APIRouter(tags=["catalog"])


@router.get("/presets", response_model=PresetsPublic, summary="List presets")
async def read_presets(_: CurrentApiKey) -> PresetsPublic:
    """Presets: a workflow with defaults, the parameters you may set (type, default, bounds) and models needed."""
    data = [preset.describe() for preset in list_presets()]
    return PresetsPublic(data=data, count=len(data))


@router.get("/workflows", response_model=WorkflowsPublic, summary="List workflow templates")
async def read_workflows(_: CurrentApiKey) -> WorkflowsPublic:
    """Workflow templates: their parameters (type, default, bounds) and the input images they take."""
    data = [template.describe() for template in list_templates()]
    return WorkflowsPublic(data=data, count=len(data))
