SELECT sum(l_extendedprice) / 7.0 AS avg_yearly
FROM (SELECT l_extendedprice, l_quantity, avg(l_quantity) OVER (PARTITION BY p_partkey) AS __floe_v
      FROM lineitem, part
      WHERE p_partkey = l_partkey AND p_brand = 'Brand#23' AND p_container = 'MED BOX') AS __floe_w
WHERE l_quantity < 0.2 * __floe_v
