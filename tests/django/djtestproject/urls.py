from django.urls import path

from . import views

urlpatterns = [
    path("whoami", views.whoami),
    path("async/whoami", views.awhoami),
    path("protected", views.protected),
    path("protected/rules", views.protected_rules),
    path("async/protected/rules", views.aprotected_rules),
    path("cbv", views.MixinView.as_view()),
    path("async/cbv", views.AsyncMixinView.as_view()),
    path("cbv/bare", views.BareMixinView.as_view()),
    path("api/whoami", views.ApiWhoami.as_view()),
    path("api/users", views.ApiUsersOnly.as_view()),
    path("api/services", views.ApiServicesOnly.as_view()),
]
