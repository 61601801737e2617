from rest_framework import generics

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability

from .selectors import number_list
from .serializers import PhoneNumberSerializer


class NumberListApi(AccountScopedMixin, generics.ListAPIView):
    capabilities = {"GET": Capability.VIEW_NUMBERS}
    serializer_class = PhoneNumberSerializer

    def get_queryset(self):
        return number_list(account=self.account)
