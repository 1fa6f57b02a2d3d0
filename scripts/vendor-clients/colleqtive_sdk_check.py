#!/usr/bin/env python3
"""Drives a StockGate with Colleqtive's own Python SDK (colleqtive-sdk on PyPI), a client
nobody on this project wrote: what our client and our server might both get wrong, it
does not. Usage: colleqtive_sdk_check.py BASE_URL  (the gateway on the demo catalog, empty).
Prints one line per check and 'N passed, N failed'; exits 1 on a failure."""
import sys
from colleqtive_sdk import Colleqtive
import colleqtive_sdk

base = sys.argv[1]
client = Colleqtive(base_url=base, bearer_token="not-checked-yet", max_retries=0)
results = []

def check(name, fn):
    try:
        fn()
        results.append((name, None))
        print(f"PASS {name}")
    except Exception as error:  # noqa: BLE001 - report any failure of the client
        results.append((name, error))
        print(f"FAIL {name}: {type(error).__name__}: {error}")

def create_movements():
    response = client.movement.create_movement(
        store_number="1001", app_user_name="sdk-user",
        body=[{"product_number": "100200", "quantity": 7.5, "reason_code": "DELIVERY",
               "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}},
              {"product_number": "100200", "quantity": 2,
               "from_location": {"location_code": "SHOPFLOOR"}, "to_location": {"location_code": "BACKROOM"}}])
    assert response.success is True, response
    assert response.data == "1,2", response.data

def refused_is_raised():
    try:
        client.movement.create_movement(store_number="1001", body=[{"product_number": "100200", "quantity": 1000,
            "from_location": {"location_code": "SHOPFLOOR"}, "to_location": {"location_code": "SOLD"}}])
    except colleqtive_sdk.APIStatusError as error:
        assert error.status_code == 409, error.status_code
        body = error.response.json()
        assert body["success"] is False and "[0].quantity" in body["message"], body
        return
    raise AssertionError("moving more than the shop floor holds was not refused")

def unknown_store_is_404():
    try:
        client.movement.create_movement(store_number="4242", body=[{"product_number": "100200", "quantity": 1,
            "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}])
    except colleqtive_sdk.NotFoundError:
        return
    raise AssertionError("an unknown store was accepted")

def list_stores():
    page = client.stores.list_stores()
    numbers = [store.store_no for store in page.list]
    assert numbers == ["1001", "9001"], numbers

def list_locations():
    codes = [location.location_code for location in client.locations.list_locations(store_number="1001", page_size=2)]
    assert codes == ["SHOPFLOOR", "BACKROOM", "INBOUND", "SOLD", "WASTE"], codes  # the SDK follows next_page

def list_products():
    products = list(client.locations.list_location_products(store_number="1001", location_code="SHOPFLOOR"))
    assert [(p.product_number, p.quantity) for p in products] == [("100200", 5.5)], products

for name, fn in [("create two movements", create_movements), ("a refusal raises with the vendor's envelope", refused_is_raised),
                 ("an unknown store is NotFound", unknown_store_is_404), ("list stores", list_stores),
                 ("list locations across pages", list_locations), ("list products with stock", list_products)]:
    check(name, fn)
failed = sum(1 for _, error in results if error)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
