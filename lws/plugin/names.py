"""Kubernetes name and label-value rules (``k8s.io/apimachinery`` validation), for plugins validating
their settings. Each returns the list of problems, empty when the value is valid."""

from lws.k8s.names import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    is_qualified_name,
)

__all__ = [
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_label_value",
    "is_qualified_name",
]
