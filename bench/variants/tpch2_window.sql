SELECT s_acctbal, s_name, n_name, p_partkey, p_mfgr, s_address, s_phone, s_comment
FROM (SELECT s_acctbal, s_name, n_name, p_partkey, p_mfgr, s_address, s_phone, s_comment, ps_supplycost,
        min(ps_supplycost) OVER (PARTITION BY p_partkey) AS __floe_v
      FROM part, supplier, partsupp, nation, region
      WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = 15 AND p_type LIKE '%BRASS'
        AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey AND r_name = 'EUROPE') AS __floe_w
WHERE ps_supplycost = __floe_v
ORDER BY s_acctbal DESC, n_name, s_name, p_partkey
LIMIT 100
