from .permissions import Capability, can


def current_account(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "current_account": membership.account,
        "current_membership": membership,
        "can": {cap.value: can(membership, cap) for cap in Capability},
    }
