"""{% load vite %}{% vite_assets "src/main.ts" %}: the hashed tags of a Vite entry."""

from django import template
from django.utils.safestring import SafeString

from core.vite import vite_tags

register = template.Library()


@register.simple_tag
def vite_assets(entry: str) -> SafeString:
    return vite_tags(entry)
