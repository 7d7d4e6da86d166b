<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN" sourcelanguage="en">
<context>
    <name>Downtime</name>
    <message>
        <source>Waiting for parts</source>
        <translation>等待工件</translation>
    </message>
    <message>
        <source>Blocked downstream</source>
        <translation>下游堵料</translation>
    </message>
    <message>
        <source>Torch cleaning</source>
        <translation>清枪</translation>
    </message>
    <message>
        <source>Contact tip change</source>
        <translation>更换导电嘴</translation>
    </message>
    <message>
        <source>Meal break</source>
        <translation>就餐</translation>
    </message>
    <message>
        <source>Faults</source>
        <translation>故障</translation>
    </message>
    <message>
        <source>Unplanned</source>
        <translation>非计划停机</translation>
    </message>
    <message>
        <source>Planned</source>
        <translation>计划停机</translation>
    </message>
    <message>
        <source>Why does the cell stand?</source>
        <translation>停机原因</translation>
    </message>
    <message>
        <source>A fault stops the cell: it says why.</source>
        <translation>设备因故障停机，原因见故障信息。</translation>
    </message>
    <message>
        <source>The cell is producing.</source>
        <translation>设备正在生产。</translation>
    </message>
    <message>
        <source>Standing since %1: %2</source>
        <translation>自 %1 起停机：%2</translation>
    </message>
    <message>
        <source>The cell has stood since %1 without a reason. Why?</source>
        <translation>设备自 %1 起停机，尚未填写原因。请选择停机原因：</translation>
    </message>
    <message>
        <source>min</source>
        <translation>分钟</translation>
    </message>
    <message>
        <source>This shift: %1</source>
        <translation>本班停机：%1</translation>
    </message>
    <message>
        <source>no downtime</source>
        <translation>无</translation>
    </message>
</context>
<context>
    <name>Fault</name>
    <message>
        <source>E-stop chain open</source>
        <comment>F100</comment>
        <translation>急停回路断开</translation>
    </message>
    <message>
        <source>Door opened during the cycle</source>
        <comment>F101</comment>
        <translation>循环中安全门被打开</translation>
    </message>
    <message>
        <source>Light curtain interrupted during the cycle</source>
        <comment>F102</comment>
        <translation>循环中光幕被遮挡</translation>
    </message>
    <message>
        <source>Robot drives switched off by the PLC</source>
        <comment>F103</comment>
        <translation>机器人伺服驱动被 PLC 关断</translation>
    </message>
    <message>
        <source>PLC heartbeat watchdog tripped</source>
        <comment>F104</comment>
        <translation>PLC 心跳看门狗超时</translation>
    </message>
    <message>
        <source>Shielding gas supply pressure low</source>
        <comment>F110</comment>
        <translation>保护气供气压力低</translation>
    </message>
    <message>
        <source>Compressed air pressure low</source>
        <comment>F111</comment>
        <translation>压缩空气压力低</translation>
    </message>
    <message>
        <source>Clamps opened during the cycle</source>
        <comment>F112</comment>
        <translation>循环中夹具松开</translation>
    </message>
    <message>
        <source>Part removed during the cycle</source>
        <comment>F113</comment>
        <translation>循环中工件被取走</translation>
    </message>
    <message>
        <source>Arc did not start after every retry</source>
        <comment>F120</comment>
        <translation>多次重试后仍未起弧</translation>
    </message>
    <message>
        <source>Arc break during the weld</source>
        <comment>F121</comment>
        <translation>焊接中断弧</translation>
    </message>
    <message>
        <source>Power source reports an error</source>
        <comment>F122</comment>
        <translation>焊接电源报错</translation>
    </message>
    <message>
        <source>Wire stuck in the weld pool at arc end</source>
        <comment>F123</comment>
        <translation>收弧时焊丝粘在熔池中</translation>
    </message>
    <message>
        <source>Shielding gas flow fault at the torch</source>
        <comment>F124</comment>
        <translation>焊枪保护气流量故障</translation>
    </message>
    <message>
        <source>Part below its preheat temperature</source>
        <comment>F125</comment>
        <translation>工件低于预热温度</translation>
    </message>
    <message>
        <source>Part did not cool to its interpass temperature</source>
        <comment>F126</comment>
        <translation>工件未冷却到层间温度</translation>
    </message>
    <message>
        <source>No reading of the part&apos;s temperature</source>
        <comment>F127</comment>
        <translation>无工件温度读数</translation>
    </message>
    <message>
        <source>Re-scan between passes could not measure the groove</source>
        <comment>F128</comment>
        <translation>焊道间重新扫描无法测量坡口</translation>
    </message>
    <message>
        <source>Groove outside what the pass table allows</source>
        <comment>F129</comment>
        <translation>坡口超出焊道表允许范围</translation>
    </message>
    <message>
        <source>Lost the link to the PLC</source>
        <comment>F130</comment>
        <translation>与 PLC 的通讯中断</translation>
    </message>
    <message>
        <source>Lost the link to the power source</source>
        <comment>F131</comment>
        <translation>与焊接电源的通讯中断</translation>
    </message>
    <message>
        <source>Lost the link to the robot</source>
        <comment>F132</comment>
        <translation>与机器人的通讯中断</translation>
    </message>
    <message>
        <source>Lost the link to the seam sensor</source>
        <comment>F133</comment>
        <translation>与焊缝传感器的通讯中断</translation>
    </message>
    <message>
        <source>Seam sensor frames do not fit its calibration</source>
        <comment>F134</comment>
        <translation>焊缝传感器图像与其标定不符</translation>
    </message>
    <message>
        <source>Robot stopped with an interface error</source>
        <comment>F135</comment>
        <translation>机器人因传感器接口错误停止</translation>
    </message>
    <message>
        <source>Robot not ready for its job</source>
        <comment>F136</comment>
        <translation>机器人未就绪，无法执行作业</translation>
    </message>
    <message>
        <source>Robot reports a fault</source>
        <comment>F140</comment>
        <translation>机器人报告故障</translation>
    </message>
    <message>
        <source>Robot refused a motion</source>
        <comment>F141</comment>
        <translation>机器人拒绝执行运动</translation>
    </message>
    <message>
        <source>Robot job signal not seen in time</source>
        <comment>F143</comment>
        <translation>未及时收到机器人作业信号</translation>
    </message>
    <message>
        <source>Robot job&apos;s search position is not where the search needs it</source>
        <comment>F147</comment>
        <translation>机器人作业的寻位位置不在寻位所需的位置</translation>
    </message>
    <message>
        <source>Seam offset found beyond what the robot job can take</source>
        <comment>F148</comment>
        <translation>找到的焊缝偏移超出机器人作业可接受的范围</translation>
    </message>
    <message>
        <source>Joint not found by the seam search</source>
        <comment>F150</comment>
        <translation>寻位未找到焊缝</translation>
    </message>
    <message>
        <source>Seam tracking lost</source>
        <comment>F151</comment>
        <translation>焊缝跟踪丢失</translation>
    </message>
    <message>
        <source>Touch search found nothing within its distance</source>
        <comment>F152</comment>
        <translation>接触寻位在搜索距离内未找到工件</translation>
    </message>
    <message>
        <source>Torch collision</source>
        <comment>F153</comment>
        <translation>焊枪碰撞</translation>
    </message>
    <message>
        <source>Touch searches do not fit one part position</source>
        <comment>F154</comment>
        <translation>接触寻位结果与同一工件位置不符</translation>
    </message>
    <message>
        <source>Torch TCP out of its limits: change the torch</source>
        <comment>F155</comment>
        <translation>焊枪 TCP 超出极限：请更换焊枪</translation>
    </message>
    <message>
        <source>TCP check could not measure the torch</source>
        <comment>F156</comment>
        <translation>TCP 检测无法测量焊枪</translation>
    </message>
    <message>
        <source>Touch search stopped before it ended</source>
        <comment>F157</comment>
        <translation>接触寻位中途停止</translation>
    </message>
    <message>
        <source>Production record could not be written</source>
        <comment>F160</comment>
        <translation>生产记录无法写入</translation>
    </message>
    <message>
        <source>A cycle step did not finish in time</source>
        <comment>F170</comment>
        <translation>循环步骤超时未完成</translation>
    </message>
    <message>
        <source>Internal error in the controller</source>
        <comment>F180</comment>
        <translation>控制器内部错误</translation>
    </message>
    <message>
        <source>Start refused: the part&apos;s traceability is incomplete</source>
        <comment>F190</comment>
        <translation>拒绝启动：工件追溯信息不完整</translation>
    </message>
    <message>
        <source>Serial number already welded</source>
        <comment>F191</comment>
        <translation>序列号已焊接过</translation>
    </message>
    <message>
        <source>Serial number not readable</source>
        <comment>F192</comment>
        <translation>序列号无法识别</translation>
    </message>
    <message>
        <source>Lost the link to the barcode scanner</source>
        <comment>F193</comment>
        <translation>与条码扫描器的连接中断</translation>
    </message>
    <message>
        <source>Welder login refused</source>
        <comment>F194</comment>
        <translation>焊工登录被拒绝</translation>
    </message>
    <message>
        <source>Work order refused</source>
        <comment>F195</comment>
        <translation>工单被拒绝</translation>
    </message>
    <message>
        <source>Weld outside its procedure&apos;s band</source>
        <comment>W200</comment>
        <translation>焊接参数超出工艺规程范围</translation>
    </message>
    <message>
        <source>Arc restarted after a break (seam overlapped)</source>
        <comment>W201</comment>
        <translation>断弧后重新起弧（焊缝搭接）</translation>
    </message>
</context>
<context>
    <name>FaultAction</name>
    <message>
        <source>Find the pressed e-stop, make the cell safe, release it; then Clear, Reset.</source>
        <comment>F100</comment>
        <translation>找到被按下的急停按钮，确认焊接单元安全后将其复位；然后执行“清除”、“复位”。</translation>
    </message>
    <message>
        <source>Close the cell door. Check the part and the torch before Reset.</source>
        <comment>F101</comment>
        <translation>关闭安全门。复位前检查工件和焊枪。</translation>
    </message>
    <message>
        <source>Clear the loading area. Check the part before Reset.</source>
        <comment>F102</comment>
        <translation>清空上下料区域。复位前检查工件。</translation>
    </message>
    <message>
        <source>Check the safety chain and the PLC&apos;s drive enable, then Clear, Reset.</source>
        <comment>F103</comment>
        <translation>检查安全回路和 PLC 的驱动使能，然后执行“清除”、“复位”。</translation>
    </message>
    <message>
        <source>The PLC lost the controller&apos;s heartbeat. Check the network, then Clear, Reset.</source>
        <comment>F104</comment>
        <translation>PLC 未收到控制器的心跳。检查网络，然后执行“清除”、“复位”。</translation>
    </message>
    <message>
        <source>Change or open the gas cylinder; check the regulator. Then Unhold.</source>
        <comment>F110</comment>
        <translation>更换或打开保护气瓶；检查减压阀。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Check the air supply to the fixture. Then Unhold.</source>
        <comment>F111</comment>
        <translation>检查夹具的压缩空气供应。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Check the fixture clamps and the air; re-clamp the part before Reset.</source>
        <comment>F112</comment>
        <translation>检查夹具夹紧气缸和气源；复位前重新夹紧工件。</translation>
    </message>
    <message>
        <source>Reload the part; the interrupted part is recorded as incomplete.</source>
        <comment>F113</comment>
        <translation>重新装夹工件；被中断的工件记录为未完成。</translation>
    </message>
    <message>
        <source>Check the wire stick-out, the contact tip and the work clamp. Then Unhold.</source>
        <comment>F120</comment>
        <translation>检查焊丝干伸长、导电嘴和地线夹。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Check wire feed, contact tip and gas; inspect the seam. Unhold restarts it with an overlap.</source>
        <comment>F121</comment>
        <translation>检查送丝、导电嘴和保护气；检查焊缝。“继续”后该焊缝搭接重焊。</translation>
    </message>
    <message>
        <source>Read the power source&apos;s error text; fix the cause, then Unhold.</source>
        <comment>F122</comment>
        <translation>查看焊接电源的报错信息；排除原因后执行“继续”。</translation>
    </message>
    <message>
        <source>Cut the wire free at the contact tip. Then Unhold.</source>
        <comment>F123</comment>
        <translation>在导电嘴处剪断焊丝。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Check the gas hose and the nozzle for spatter. Then Unhold.</source>
        <comment>F124</comment>
        <translation>检查气管和喷嘴是否被飞溅堵塞。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Preheat the part at the seam to the temperature in the detail (measure as ISO 13916 says). Then Unhold: the temperature is checked again.</source>
        <comment>F125</comment>
        <translation>将焊缝处预热到详情中给出的温度（按 ISO 13916 测温）。然后执行“继续”：温度将再次检查。</translation>
    </message>
    <message>
        <source>Check the part&apos;s temperature by hand and the pyrometer; let it cool. Then Unhold.</source>
        <comment>F126</comment>
        <translation>手动测量工件温度并检查测温仪；等待冷却。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Check the pyrometer and its PLC input. Then Unhold.</source>
        <comment>F127</comment>
        <translation>检查测温仪及其 PLC 输入。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Check the sensor&apos;s window for spatter and the groove for slag; clean it. Then Unhold: the groove is scanned again.</source>
        <comment>F128</comment>
        <translation>检查传感器窗口是否有飞溅、坡口内是否有焊渣；清理干净。然后继续：将重新扫描坡口。</translation>
    </message>
    <message>
        <source>The detail says what was measured: inspect the groove&apos;s fill. Abort and finish the seam by hand; correct the pass table before the next part.</source>
        <comment>F129</comment>
        <translation>详情说明测量结果：请检查坡口填充情况。中止并手工完成该焊缝；在下一个工件前修正焊道表。</translation>
    </message>
    <message>
        <source>Check the PLC&apos;s network cable and power; the link comes back by itself.</source>
        <comment>F130</comment>
        <translation>检查 PLC 的网线和电源；通讯会自动恢复。</translation>
    </message>
    <message>
        <source>Check the RS-485 cable and the power source; the link comes back by itself.</source>
        <comment>F131</comment>
        <translation>检查 RS-485 电缆和焊接电源；通讯会自动恢复。</translation>
    </message>
    <message>
        <source>Check the robot controller and its cable (serial, or the Ethernet of its sensor interface); it comes back by itself.</source>
        <comment>F132</comment>
        <translation>检查机器人控制柜及其电缆（串口，或传感器接口的以太网）；连接会自动恢复。</translation>
    </message>
    <message>
        <source>Check the sensor&apos;s cable and power. Then Unhold.</source>
        <comment>F133</comment>
        <translation>检查传感器的电缆和电源。然后执行“继续”。</translation>
    </message>
    <message>
        <source>The sensor sends images of another size than it was calibrated for: check its resolution setting and the calibration file. Then Unhold.</source>
        <comment>F134</comment>
        <translation>传感器发送的图像尺寸与标定时不同：检查其分辨率设置和标定文件。然后执行“继续”。</translation>
    </message>
    <message>
        <source>The robot stopped its job on its sensor interface (RSI or EGM: late or missing answers) or on a job fault. Read the robot&apos;s message on its pendant; check the network between controller and robot. Then Clear, Reset.</source>
        <comment>F135</comment>
        <translation>机器人因传感器接口（RSI 或 EGM：应答超时或丢失）或作业故障而停止作业。请查看示教器上的机器人报警信息，检查控制器与机器人之间的网络。然后清除、复位。</translation>
    </message>
    <message>
        <source>The robot must be in external automatic with drives on and no job running: check the robot&apos;s mode and its pendant. Then Clear, Reset.</source>
        <comment>F136</comment>
        <translation>机器人须处于外部自动模式、伺服上电且无作业运行：请检查机器人模式及示教器。然后清除、复位。</translation>
    </message>
    <message>
        <source>Read the robot&apos;s fault on its pendant; fix it before Clear, Reset.</source>
        <comment>F140</comment>
        <translation>在示教器上查看机器人故障；排除后执行“清除”、“复位”。</translation>
    </message>
    <message>
        <source>The part program asks for a move the robot cannot make; check the program.</source>
        <comment>F141</comment>
        <translation>焊接程序要求的运动机器人无法执行；检查程序。</translation>
    </message>
    <message>
        <source>The robot&apos;s job did not start, reach the seam or finish in time: check the robot&apos;s job (the detail names the signal), its I/O and the PLC. Then Clear, Reset.</source>
        <comment>F143</comment>
        <translation>机器人作业未能及时启动、到达焊缝或完成：请检查机器人作业（详情中注明了信号）、其 I/O 及 PLC。然后清除、复位。</translation>
    </message>
    <message>
        <source>The detail gives where the robot stood and where the laser sees the seam&apos;s first millimetres: correct the job&apos;s search position on the robot (see docs/robots/). Then Clear, Reset.</source>
        <comment>F147</comment>
        <translation>详情中给出了机器人所在的位置以及激光能看到焊缝起始几毫米的位置：请在机器人上修正作业的寻位位置（见 docs/robots/）。然后清除、复位。</translation>
    </message>
    <message>
        <source>The joint lies further from the taught seam than the robot&apos;s correction limit or the PLC&apos;s frame offset allows: check the part in the fixture and the taught seam. Then Clear, Reset.</source>
        <comment>F148</comment>
        <translation>焊缝离示教焊缝的距离超出了机器人的修正限值或 PLC 坐标偏移所允许的范围：请检查夹具中的工件和示教焊缝。然后清除、复位。</translation>
    </message>
    <message>
        <source>Check the part&apos;s position in the fixture and the sensor window. Then Unhold.</source>
        <comment>F150</comment>
        <translation>检查工件在夹具中的位置和传感器视野。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Check the sensor&apos;s window for spatter and the joint. Then Unhold.</source>
        <comment>F151</comment>
        <translation>检查传感器窗口是否有飞溅，检查坡口。然后执行“继续”。</translation>
    </message>
    <message>
        <source>Check the part in the fixture where the search named in the detail touches, and the wire (cut, clean); then Unhold.</source>
        <comment>F152</comment>
        <translation>检查详情中所列寻位点处夹具内的工件，以及焊丝（剪丝、清洁）；然后继续。</translation>
    </message>
    <message>
        <source>Check the torch and the part for damage; after Reset the torch&apos;s TCP is checked before the next weld.</source>
        <comment>F153</comment>
        <translation>检查焊枪和工件是否损坏；复位后，下一次焊接前将先检测焊枪 TCP。</translation>
    </message>
    <message>
        <source>A search touched something else (a tack, spatter, another plate): check the part and the searches named in the detail; then Unhold.</source>
        <comment>F154</comment>
        <translation>寻位碰到了其他物体（定位焊点、飞溅、其他板材）：请检查工件及详情中所列的寻位；然后继续。</translation>
    </message>
    <message>
        <source>The torch neck is bent beyond what can be corrected: change the neck (or the torch), then Clear, Reset; the TCP is checked again.</source>
        <comment>F155</comment>
        <translation>焊枪枪颈弯曲超出可修正范围：请更换枪颈（或焊枪），然后清除、复位；TCP 将重新检测。</translation>
    </message>
    <message>
        <source>The wire did not cross the TCP checker&apos;s beams: check the wire stick-out and the checker, then Clear, Reset.</source>
        <comment>F156</comment>
        <translation>焊丝未穿过 TCP 检测器的光束：请检查焊丝伸出长度和检测器，然后清除、复位。</translation>
    </message>
    <message>
        <source>The robot stopped the search named in the detail; check the robot and the part, then Unhold.</source>
        <comment>F157</comment>
        <translation>机器人停止了详情中所列的寻位；请检查机器人和工件，然后继续。</translation>
    </message>
    <message>
        <source>Check the disk holding the production database; nothing is welded unrecorded.</source>
        <comment>F160</comment>
        <translation>检查存放生产数据库的磁盘；未记录的焊接不会进行。</translation>
    </message>
    <message>
        <source>Check the device named in the detail. Then Clear, Reset.</source>
        <comment>F170</comment>
        <translation>检查详情中指出的设备。然后执行“清除”、“复位”。</translation>
    </message>
    <message>
        <source>Call maintenance and send the controller&apos;s log: the detail names the task and the error. The part is recorded incomplete. Then Clear, Reset.</source>
        <comment>F180</comment>
        <translation>联系维修人员并发送控制器日志：详情中给出任务和错误。该工件记录为未完成。然后执行“清除”、“复位”。</translation>
    </message>
    <message>
        <source>The detail says what is missing: scan or type the part&apos;s serial number, log in a qualified welder, or enter the wire and gas lots. Then Start.</source>
        <comment>F190</comment>
        <translation>详情说明缺少的内容：扫描或输入工件序列号，登录有资质的焊工，或输入焊丝和保护气批号。然后启动。</translation>
    </message>
    <message>
        <source>Check the part&apos;s label. A part welded before is welded again only as a rework: a quality engineer releases it (ReleaseRework), then scan it again.</source>
        <comment>F191</comment>
        <translation>检查工件标签。已焊过的工件只能作为返修再次焊接：由质量工程师放行（ReleaseRework）后重新扫描。</translation>
    </message>
    <message>
        <source>Scan the label again, or type the serial; replace a damaged label.</source>
        <comment>F192</comment>
        <translation>重新扫描标签，或手动输入序列号；更换损坏的标签。</translation>
    </message>
    <message>
        <source>Check the scanner&apos;s cable; it comes back by itself. Type serials meanwhile.</source>
        <comment>F193</comment>
        <translation>检查扫描器电缆；连接会自动恢复。期间请手动输入序列号。</translation>
    </message>
    <message>
        <source>The detail says why (unknown welder, qualification expired). An expired ISO 14732 qualification is renewed before its holder welds again.</source>
        <comment>F194</comment>
        <translation>详情说明原因（焊工未登记、资质过期）。ISO 14732 资质过期的焊工须先更新资质才能再次焊接。</translation>
    </message>
    <message>
        <source>The detail names the file, line and field; the file is in the orders folder&apos;s rejected/ with its error beside it. Correct it in the MES and send it again.</source>
        <comment>F195</comment>
        <translation>详情指出文件、行号和字段；该文件已移至工单文件夹的 rejected/ 目录，旁边附有错误说明。请在 MES 中修正后重新发送。</translation>
    </message>
    <message>
        <source>Inspect the seam named in the detail; the part is recorded as bad.</source>
        <comment>W200</comment>
        <translation>检查详情中指出的焊缝；该工件记录为不合格。</translation>
    </message>
    <message>
        <source>Inspect the overlap on the seam named in the detail.</source>
        <comment>W201</comment>
        <translation>检查详情中指出的焊缝上的搭接处。</translation>
    </message>
</context>
<context>
    <name>Faults</name>
    <message>
        <source>active</source>
        <translation>未解除</translation>
    </message>
    <message>
        <source>Code</source>
        <translation>代码</translation>
    </message>
    <message>
        <source>Severity</source>
        <translation>等级</translation>
    </message>
    <message>
        <source>Since</source>
        <translation>发生时间</translation>
    </message>
    <message>
        <source>Acknowledged</source>
        <translation>已确认</translation>
    </message>
    <message>
        <source>Fault and what to do</source>
        <translation>故障及处理方法</translation>
    </message>
    <message>
        <source>Raised</source>
        <translation>发生</translation>
    </message>
    <message>
        <source>Cleared</source>
        <translation>解除</translation>
    </message>
    <message>
        <source>Fault</source>
        <translation>故障</translation>
    </message>
    <message>
        <source>Acknowledge selected</source>
        <translation>确认所选</translation>
    </message>
    <message>
        <source>Acknowledge all</source>
        <translation>全部确认</translation>
    </message>
    <message>
        <source>count</source>
        <translation>次数</translation>
    </message>
    <message>
        <source>Pareto of the shift&apos;s faults</source>
        <translation>本班故障排列图</translation>
    </message>
    <message>
        <source>Active faults</source>
        <translation>当前故障</translation>
    </message>
    <message>
        <source>History (this shift, newest first)</source>
        <translation>历史记录（本班，最新在前）</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>NO</source>
        <translation>否</translation>
    </message>
</context>
<context>
    <name>Link</name>
    <message>
        <source>up</source>
        <translation>正常</translation>
    </message>
    <message>
        <source>down</source>
        <translation>断开</translation>
    </message>
    <message>
        <source>connecting</source>
        <translation>连接中</translation>
    </message>
</context>
<context>
    <name>Live</name>
    <message>
        <source>Laser profile</source>
        <translation>激光轮廓</translation>
    </message>
    <message>
        <source>no profile from the sensor yet</source>
        <translation>尚未收到传感器轮廓</translation>
    </message>
</context>
<context>
    <name>Mode</name>
    <message>
        <source>production</source>
        <translation>生产</translation>
    </message>
    <message>
        <source>manual</source>
        <translation>手动</translation>
    </message>
    <message>
        <source>dry_run</source>
        <translation>空运行</translation>
    </message>
</context>
<context>
    <name>Overview</name>
    <message>
        <source>Start</source>
        <translation>启动</translation>
    </message>
    <message>
        <source>Hold</source>
        <translation>暂停</translation>
    </message>
    <message>
        <source>Unhold</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Reset</source>
        <translation>复位</translation>
    </message>
    <message>
        <source>Abort</source>
        <translation>中止</translation>
    </message>
    <message>
        <source>Clear</source>
        <translation>清除</translation>
    </message>
    <message>
        <source>Mode</source>
        <translation>模式</translation>
    </message>
    <message>
        <source>Part</source>
        <translation>工件</translation>
    </message>
    <message>
        <source>Seam</source>
        <translation>焊缝</translation>
    </message>
    <message>
        <source>Doing</source>
        <translation>当前步骤</translation>
    </message>
    <message>
        <source>Acknowledge faults</source>
        <translation>确认故障</translation>
    </message>
    <message>
        <source>Set mode</source>
        <translation>设置模式</translation>
    </message>
    <message>
        <source>Production (shift)</source>
        <translation>生产（本班）</translation>
    </message>
    <message>
        <source>Processed</source>
        <translation>已加工</translation>
    </message>
    <message>
        <source>Good</source>
        <translation>合格</translation>
    </message>
    <message>
        <source>Defective</source>
        <translation>不合格</translation>
    </message>
    <message>
        <source>Parts / hour</source>
        <translation>件/小时</translation>
    </message>
    <message>
        <source>Cycle time</source>
        <translation>节拍</translation>
    </message>
    <message>
        <source>Availability</source>
        <translation>时间开动率</translation>
    </message>
    <message>
        <source>Performance</source>
        <translation>性能开动率</translation>
    </message>
    <message>
        <source>Quality</source>
        <translation>合格品率</translation>
    </message>
    <message>
        <source>logged in: %1</source>
        <translation>已登录：%1</translation>
    </message>
    <message>
        <source>Links: unknown (no connection to the controller)</source>
        <translation>通讯：未知（未连接控制器）</translation>
    </message>
    <message>
        <source>Faults: unknown (no connection to the controller)</source>
        <translation>故障：未知（未连接控制器）</translation>
    </message>
    <message>
        <source>PLC</source>
        <translation>PLC</translation>
    </message>
    <message>
        <source>Power source</source>
        <translation>焊接电源</translation>
    </message>
    <message>
        <source>Robot</source>
        <translation>机器人</translation>
    </message>
    <message>
        <source>No active faults</source>
        <translation>无当前故障</translation>
    </message>
</context>
<context>
    <name>PackML</name>
    <message>
        <source>Idle</source>
        <translation>空闲</translation>
    </message>
    <message>
        <source>Starting</source>
        <translation>启动中</translation>
    </message>
    <message>
        <source>Execute</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Completing</source>
        <translation>完成中</translation>
    </message>
    <message>
        <source>Complete</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>Resetting</source>
        <translation>复位中</translation>
    </message>
    <message>
        <source>Holding</source>
        <translation>暂停中</translation>
    </message>
    <message>
        <source>Held</source>
        <translation>已暂停</translation>
    </message>
    <message>
        <source>Unholding</source>
        <translation>恢复中</translation>
    </message>
    <message>
        <source>Suspending</source>
        <translation>挂起中</translation>
    </message>
    <message>
        <source>Suspended</source>
        <translation>已挂起</translation>
    </message>
    <message>
        <source>Unsuspending</source>
        <translation>解除挂起中</translation>
    </message>
    <message>
        <source>Stopping</source>
        <translation>停止中</translation>
    </message>
    <message>
        <source>Stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>Clearing</source>
        <translation>清除中</translation>
    </message>
    <message>
        <source>Aborting</source>
        <translation>中止中</translation>
    </message>
    <message>
        <source>Aborted</source>
        <translation>已中止</translation>
    </message>
    <message>
        <source>No connection</source>
        <translation>无连接</translation>
    </message>
    <message>
        <source>Unknown</source>
        <translation>未知</translation>
    </message>
</context>
<context>
    <name>Production</name>
    <message>
        <source>parts/h</source>
        <translation>件/小时</translation>
    </message>
    <message>
        <source>minutes into the shift</source>
        <translation>班次已进行（分钟）</translation>
    </message>
    <message>
        <source>Parts per hour</source>
        <translation>每小时产量</translation>
    </message>
    <message>
        <source>Cycle time per part</source>
        <translation>单件节拍</translation>
    </message>
    <message>
        <source>part of the shift</source>
        <translation>本班第几件</translation>
    </message>
    <message>
        <source>Arc-on ratio per part</source>
        <translation>单件燃弧率</translation>
    </message>
    <message>
        <source>Parts / hour</source>
        <translation>件/小时</translation>
    </message>
    <message>
        <source>Mean cycle time</source>
        <translation>平均节拍</translation>
    </message>
    <message>
        <source>Arc-on ratio</source>
        <translation>燃弧率</translation>
    </message>
    <message>
        <source>Parts processed</source>
        <translation>已加工件数</translation>
    </message>
</context>
<context>
    <name>Resume</name>
    <message>
        <source>seam %1 from its start</source>
        <translation>焊缝 %1，从头开始</translation>
    </message>
    <message>
        <source>seam %1, pass %2 of %3</source>
        <translation>焊缝 %1，第 %2 道（共 %3 道）</translation>
    </message>
    <message>
        <source>no serial</source>
        <translation>无序列号</translation>
    </message>
    <message>
        <source>Part %1 (%2, %3): the next Start welds %4</source>
        <translation>工件 %1（%2，%3）：下次启动焊接 %4</translation>
    </message>
    <message>
        <source>Part interrupted by the controller&apos;s stop</source>
        <translation>控制器停机中断的工件</translation>
    </message>
    <message>
        <source>Resume this part</source>
        <translation>继续焊接此工件</translation>
    </message>
    <message>
        <source>Yes, resume it</source>
        <translation>是，继续焊接</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Confirmed: %1</source>
        <translation>已确认：%1</translation>
    </message>
    <message>
        <source>Refused: %1</source>
        <translation>被拒绝：%1</translation>
    </message>
    <message>
        <source>Is part %1 on the fixture as the stop left it? The next Start welds %2; passes already recorded are not welded again.</source>
        <translation>工件 %1 是否仍按停机时的状态在夹具上？下次启动焊接 %2；已记录的焊道不会重焊。</translation>
    </message>
    <message>
        <source>Part %1 is confirmed: the next Start reopens it.</source>
        <translation>工件 %1 已确认：下次启动时继续焊接。</translation>
    </message>
</context>
<context>
    <name>Role</name>
    <message>
        <source>anonymous</source>
        <translation>匿名</translation>
    </message>
    <message>
        <source>operator</source>
        <translation>操作员</translation>
    </message>
    <message>
        <source>engineer</source>
        <translation>工程师</translation>
    </message>
</context>
<context>
    <name>Screens</name>
    <message>
        <source>Overview</source>
        <translation>总览</translation>
    </message>
    <message>
        <source>Production</source>
        <translation>生产</translation>
    </message>
    <message>
        <source>Faults</source>
        <translation>故障</translation>
    </message>
    <message>
        <source>Weld</source>
        <translation>焊接</translation>
    </message>
    <message>
        <source>Tracking</source>
        <translation>焊缝跟踪</translation>
    </message>
</context>
<context>
    <name>Severity</name>
    <message>
        <source>abort</source>
        <translation>中止</translation>
    </message>
    <message>
        <source>stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>hold</source>
        <translation>暂停</translation>
    </message>
    <message>
        <source>warning</source>
        <translation>警告</translation>
    </message>
</context>
<context>
    <name>TracePanel</name>
    <message>
        <source>Order and traceability</source>
        <translation>工单与追溯</translation>
    </message>
    <message>
        <source>Scan or type, then Enter</source>
        <translation>扫描或输入后回车</translation>
    </message>
    <message>
        <source>Work order in progress</source>
        <translation>当前工单</translation>
    </message>
    <message>
        <source>Serial number (next part)</source>
        <translation>序列号（下一工件）</translation>
    </message>
    <message>
        <source>Welder</source>
        <translation>焊工</translation>
    </message>
    <message>
        <source>Wire / gas lot</source>
        <translation>焊丝 / 保护气批号</translation>
    </message>
    <message>
        <source>Enter a serial</source>
        <translation>输入序列号</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>next: %1</source>
        <translation>后续：%1</translation>
    </message>
    <message>
        <source>not scanned</source>
        <translation>未扫描</translation>
    </message>
    <message>
        <source>nobody logged in</source>
        <translation>无人登录</translation>
    </message>
</context>
<context>
    <name>Tracking</name>
    <message>
        <source>path position (mm)</source>
        <translation>路径位置 (mm)</translation>
    </message>
    <message>
        <source>Corrections over the seam</source>
        <translation>沿焊缝的纠偏量</translation>
    </message>
    <message>
        <source>Taught and corrected path (plan view, corrections ×%1)</source>
        <translation>示教与纠偏后路径（俯视，纠偏量放大 ×%1）</translation>
    </message>
    <message>
        <source>lateral</source>
        <translation>横向</translation>
    </message>
    <message>
        <source>vertical</source>
        <translation>高度</translation>
    </message>
    <message>
        <source>taught</source>
        <translation>示教</translation>
    </message>
    <message>
        <source>corrected</source>
        <translation>纠偏后</translation>
    </message>
    <message>
        <source>Lateral (mm)</source>
        <translation>横向纠偏 (mm)</translation>
    </message>
    <message>
        <source>Vertical (mm)</source>
        <translation>高度纠偏 (mm)</translation>
    </message>
    <message>
        <source>Joint</source>
        <translation>坡口</translation>
    </message>
    <message>
        <source>Position</source>
        <translation>位置</translation>
    </message>
    <message>
        <source>found</source>
        <translation>已找到</translation>
    </message>
    <message>
        <source>not found</source>
        <translation>未找到</translation>
    </message>
</context>
<context>
    <name>Weld</name>
    <message>
        <source>Current</source>
        <translation>电流</translation>
    </message>
    <message>
        <source>Voltage</source>
        <translation>电压</translation>
    </message>
    <message>
        <source>Wire feed</source>
        <translation>送丝速度</translation>
    </message>
    <message>
        <source>seam (newest right)</source>
        <translation>焊缝（最新在右）</translation>
    </message>
    <message>
        <source>Heat input per seam</source>
        <translation>各焊缝热输入</translation>
    </message>
    <message>
        <source>Arc</source>
        <translation>电弧</translation>
    </message>
    <message>
        <source>Procedure</source>
        <translation>焊接工艺</translation>
    </message>
    <message>
        <source>ON</source>
        <translation>燃弧</translation>
    </message>
    <message>
        <source>off</source>
        <translation>熄弧</translation>
    </message>
</context>
<context>
    <name>Window</name>
    <message>
        <source>Password for %1:</source>
        <translation>%1 的密码：</translation>
    </message>
    <message>
        <source>connecting …</source>
        <translation>连接中…</translation>
    </message>
    <message>
        <source>NOT CONNECTED to the controller (%1) — %2</source>
        <translation>未连接控制器（%1）— %2</translation>
    </message>
    <message>
        <source>reconnecting … (%1)</source>
        <translation>重新连接中…（%1）</translation>
    </message>
</context>
</TS>
