"""URL patterns of the DICOMweb proxy, mounted at /dicomweb/ by config.urls.
One route per resource in imaging.proxy_paths.RESOURCES, the edge's access
decision, and for any other path a 404 that is still audited."""

from django.urls import path, re_path, register_converter

from imaging import proxy
from imaging.proxy_paths import CONVERTERS, RESOURCES

for _name, _converter in CONVERTERS.items():
    register_converter(_converter, _name)

urlpatterns = [
    path(r.pattern, proxy.dicomweb, {"resource": r}, name=f"dicomweb-{r.name}") for r in RESOURCES
]
# The edge's subrequest (deploy/docker/nginx); nginx answers 404 to this path from outside.
urlpatterns.append(
    path(
        "_authorize/studies/<dicom_uid:study_uid>",
        proxy.authorize_images,
        name="dicomweb-authorize",
    )
)
urlpatterns.append(re_path(r"", proxy.unknown, name="dicomweb-unknown"))
