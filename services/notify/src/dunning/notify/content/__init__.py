"""Message content: sandboxed Jinja2 templates, default wording per locale, Babel formatting."""

from dunning.notify.content.defaults import default_template
from dunning.notify.content.facts import MessageFacts, PlanOffer, sample_facts
from dunning.notify.content.locales import negotiate_locale
from dunning.notify.content.render import RenderedMessage, TemplateProblem, TemplateSource, render, validate
from dunning.notify.content.sms import sms_segments
from dunning.notify.content.variables import KNOWN_VARIABLES

__all__ = [
    "KNOWN_VARIABLES",
    "MessageFacts",
    "PlanOffer",
    "RenderedMessage",
    "TemplateProblem",
    "TemplateSource",
    "default_template",
    "negotiate_locale",
    "render",
    "sample_facts",
    "sms_segments",
    "validate",
]
