"""Says who the token's claims name, as the product's GET /me would."""


def lambda_handler(event, context):
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    groups = claims["cognito:groups"].strip("[]").split()
    return {"name": claims["cognito:username"], "email": claims["email"], "groups": groups}
