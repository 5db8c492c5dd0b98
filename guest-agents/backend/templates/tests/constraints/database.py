

# Values the database itself refuses (its CHECK constraints), whatever the API lets through.
CHECKS = json.loads(@@table@@)


@pytest.mark.parametrize("case", CHECKS, ids=[case["field"] for case in CHECKS])
def test_the_database_refuses_what_the_rules_forbid(client, headers, case):
    row = schemas.@@name@@Create(**body_for(client, headers, PLURAL)).model_dump()
    with SessionLocal() as db:
        for value in case["rejected"]:
            db.add(models.@@name@@(**{**row, case["field"]: value}))
            with pytest.raises(IntegrityError):
                db.commit()
            db.rollback()
