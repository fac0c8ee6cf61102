from django.urls import path

from accounts.oidc import SSOCallbackView, SSOStartView

# The names mozilla-django-oidc reverses; the views answer 404 while SSO is off.
urlpatterns = [
    path("authenticate/", SSOStartView.as_view(), name="oidc_authentication_init"),
    path("callback/", SSOCallbackView.as_view(), name="oidc_authentication_callback"),
]
