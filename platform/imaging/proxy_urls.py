"""URL patterns of the DICOMweb proxy, mounted at /dicomweb/ by config.urls.
One route per resource in imaging.proxy_paths.RESOURCES; any other path is a
404 that is still audited."""

from django.urls import path, re_path, register_converter

from imaging import proxy
from imaging.proxy_paths import CONVERTERS, RESOURCES

for _name, _converter in CONVERTERS.items():
    register_converter(_converter, _name)

urlpatterns = [
    path(r.pattern, proxy.dicomweb, {"resource": r}, name=f"dicomweb-{r.name}") for r in RESOURCES
]
urlpatterns.append(re_path(r"", proxy.unknown, name="dicomweb-unknown"))
