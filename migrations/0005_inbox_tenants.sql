-- v1.2: a commandId belongs to the tenant that used it first. The inbox records that tenant (null
-- when the command carried no valid tenantId); the same id from another tenant is answered
-- `conflict` and never recorded. Rows written before this migration take their program's tenant.
ALTER TABLE inbox ADD COLUMN tenant_id text;

UPDATE inbox SET tenant_id = owner.tenant_id
FROM (SELECT id, tenant_id FROM programs UNION ALL SELECT id, tenant_id FROM deleted_programs) AS owner
WHERE owner.id = inbox.program_id;
