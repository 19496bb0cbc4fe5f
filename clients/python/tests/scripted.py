"""Scripted models for the real frameworks (no network): an ADK BaseLlm and
an OpenAI Agents Model that answer with text derived from their input, and
the agent graphs the end-to-end tests run."""
from __future__ import annotations

import os
from typing import AsyncGenerator

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
os.environ.setdefault("OPENAI_API_KEY", "unused-no-network")

from agents import Agent, set_tracing_disabled  # noqa: E402
from agents.items import ModelResponse  # noqa: E402
from agents.models.interface import Model  # noqa: E402
from agents.usage import Usage  # noqa: E402
from google.adk.agents import LlmAgent, ParallelAgent, SequentialAgent  # noqa: E402
from google.adk.models.base_llm import BaseLlm  # noqa: E402
from google.adk.models.llm_request import LlmRequest  # noqa: E402
from google.adk.models.llm_response import LlmResponse  # noqa: E402
from google.genai import types  # noqa: E402
from openai.types.responses import ResponseOutputMessage, ResponseOutputText  # noqa: E402

set_tracing_disabled(True)


def _last_user_text(llm_request: LlmRequest) -> str:
    """The user's latest message (ADK passes other agents' output as user
    turns that start with 'For context:'; those are skipped)."""
    for content in reversed(llm_request.contents or []):
        if content.role == "user":
            for part in content.parts or []:
                if part.text and not part.text.startswith("For context:"):
                    return part.text
    return ""


class ScriptedLlm(BaseLlm):
    """Answers '<model>: <last user text>' in one non-partial response."""

    async def generate_content_async(self, llm_request: LlmRequest,
                                     stream: bool = False
                                     ) -> AsyncGenerator[LlmResponse, None]:
        text = f"{self.model}: {_last_user_text(llm_request)}"
        yield LlmResponse(content=types.Content(role="model",
                                                parts=[types.Part(text=text)]))


PARALLEL = ("branch_a", "branch_b", "branch_c")


def adk_agent() -> SequentialAgent:
    """A planner LlmAgent, then three LlmAgent sub-agents started in
    parallel (each writing its answer to state with output_key), then a
    summarizer."""
    planner = LlmAgent(name="planner", model=ScriptedLlm(model="planner"),
                       output_key="user:last_plan")
    fanout = ParallelAgent(name="fanout", sub_agents=[
        LlmAgent(name=n, model=ScriptedLlm(model=n), output_key=f"out_{n}")
        for n in PARALLEL])
    summary = LlmAgent(name="summarizer", model=ScriptedLlm(model="summarizer"),
                       output_key="app:last_summary")
    return SequentialAgent(name="root", sub_agents=[planner, fanout, summary])


class ScriptedModel(Model):
    """An OpenAI Agents model answering 'echo: <last user text>'."""

    def __init__(self, tag: str = "echo"):
        self.tag = tag

    async def get_response(self, system_instructions, input, model_settings,
                           tools, output_schema, handoffs, tracing, *,
                           previous_response_id=None, conversation_id=None,
                           prompt=None, **kwargs) -> ModelResponse:
        last = input if isinstance(input, str) else next(
            (i.get("content") for i in reversed(input)
             if isinstance(i, dict) and i.get("role") == "user"), "")
        if isinstance(last, list):
            last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
        msg = ResponseOutputMessage(
            id=f"msg-{self.tag}-{abs(hash(str(last))) % 10**8}", type="message",
            role="assistant", status="completed",
            content=[ResponseOutputText(type="output_text", text=f"{self.tag}: {last}",
                                        annotations=[])])
        return ModelResponse(output=[msg], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("the tests do not stream")


def openai_agent(tag: str = "echo") -> Agent:
    return Agent(name="assistant", instructions="Answer.", model=ScriptedModel(tag))
