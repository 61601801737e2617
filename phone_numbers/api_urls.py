from django.urls import path

from . import api

urlpatterns = [path("numbers/", api.NumberListApi.as_view(), name="api-numbers")]
