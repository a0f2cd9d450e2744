"""`{% load ops_status %}{% ops_status %}`: the server's status (kap.ops.status) as a section of a
page, for the clinic admin's page, which care renders without importing ops."""

from django import template

from kap.ops.status import current_status

register = template.Library()


@register.inclusion_tag("ops/_status.html")
def ops_status():
    return {"status": current_status()}
