"""`python -m sales_service`: serve the sales service, configured by SALES_* variables."""

from sales_service.settings import SalesSettings
from shared.serve import serve

if __name__ == "__main__":
    serve("sales", "sales_service.app:create_app", SalesSettings())
